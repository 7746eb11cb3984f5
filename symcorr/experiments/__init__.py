r"""The paper's analyses and the demo (docs/theory.md section 8); imported by nothing.

Data sets, training, class statistics, figures and reports behind
``symcorr reproduce xor|mnist`` and the default ``symcorr`` demo.
"""
