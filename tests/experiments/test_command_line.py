"""The command lines of ``symcorr reproduce xor|mnist`` and ``symcorr demo``: every refused argument
names the argument, the limit and the value given; data the MNIST analysis cannot use is refused
before training, naming the problem; one progress line per training run; the figure helpers."""
import io

import numpy as np
import pytest
from command_line import run_main

torch = pytest.importorskip("torch")

from symcorr.cli import main as cli_main
from symcorr.experiments import demo, training
from symcorr.experiments.datasets import Dataset, write_idx
from symcorr.experiments.mnist_data import MIN_IMAGES_PER_CLASS, DataError, check_data

XOR = ["reproduce", "xor"]
MNIST = ["reproduce", "mnist"]

REFUSED_ARGUMENTS = [
    (XOR + ["--width", "0"], "symcorr reproduce xor: error: argument --width: must be a finite number > 0, got 0"),
    (XOR + ["--width", "nan"], "argument --width: must be a finite number > 0, got nan"),
    (XOR + ["--hidden", "0"], "argument --hidden: must be comma-separated integers >= 1 such as 8,4, got '0'"),
    (XOR + ["--hidden", "8,abc"], "argument --hidden: must be comma-separated integers >= 1 such as 8,4, got '8,abc'"),
    (XOR + ["--alpha", "inf"], "argument --alpha: must be a finite number, got inf"),
    (XOR + ["--epochs", "-1"], "argument --epochs: must be an integer >= 1, got -1"),
    (XOR + ["--epochs", "0"], "argument --epochs: must be an integer >= 1, got 0"),
    (XOR + ["--n-mc", "0"], "argument --n-mc: must be an integer >= 640 (order-4 k-statistics in 64 groups), got 0"),
    (XOR + ["--n-test", "0"], "argument --n-test: must be an integer >= 1, got 0"),
    (XOR + ["--seed", "-1"], "argument --seed: must be an integer >= 0 and <= 4294967295, got -1"),
    (XOR + ["--threads", "0"], "argument --threads: must be an integer >= 1, got 0"),
    (MNIST + ["--hidden", "0"],
     "symcorr reproduce mnist: error: argument --hidden: must be comma-separated integers >= 1 such as 128,64, got '0'"),
    (MNIST + ["--hidden=-4"], "argument --hidden: must be comma-separated integers >= 1 such as 128,64, got '-4'"),
    (MNIST + ["--hidden", "abc"], "argument --hidden: must be comma-separated integers >= 1 such as 128,64, got 'abc'"),
    (MNIST + ["--n-train", "0"], "argument --n-train: must be an integer >= 1, got 0"),
    (MNIST + ["--n-test", "0"], "argument --n-test: must be an integer >= 1, got 0"),
    (MNIST + ["--epochs", "-1"], "argument --epochs: must be an integer >= 1 (0 would analyse an untrained network), "
                                 "got -1"),
    (MNIST + ["--epochs", "0"], "argument --epochs: must be an integer >= 1"),
    (MNIST + ["--alpha", "nan"], "argument --alpha: must be a finite number, got nan"),
    (MNIST + ["--activations", "quadratic,relu"],
     "argument --activations: must be a comma-separated subset of quadratic,erf, got 'quadratic,relu'"),
    (MNIST + ["--threads", "0"], "argument --threads: must be an integer >= 1, got 0"),
    (MNIST + ["--quick", "--n-train", "20"],
     f"symcorr reproduce mnist: error: digits: class 0 has 2 training images after --n-train 20; the class "
     f"statistics need at least {MIN_IMAGES_PER_CLASS} per class (16 batch-means groups of 6); --n-train"),
    (["demo", "--alpha", "nan"], "symcorr demo: error: argument --alpha: must be a finite number, got nan"),
    (["demo", "--seed", "-1"], "symcorr demo: error: argument --seed: must be an integer >= 0 and <= 4294967295, got -1"),
]


@pytest.mark.parametrize("argv, message", REFUSED_ARGUMENTS, ids=[" ".join(a) for a, _ in REFUSED_ARGUMENTS])
def test_refused_arguments(argv, message, capsys, tmp_path):
    if argv[:2] == MNIST:
        pytest.importorskip("sklearn")
    status, out, err = run_main(cli_main, [*argv, "--no-figures", "--out", str(tmp_path)]
                                if argv[0] == "reproduce" else argv, capsys)
    assert status == 2
    assert message in err
    assert "Traceback" not in err and "] training " not in err  # refused before any training


# -- data the MNIST analysis cannot use ----------------------------------------------------------

def _dataset(train_labels, test_labels=(0, 1, 2), n=MIN_IMAGES_PER_CLASS, name="tiny"):
    rng = np.random.default_rng(0)
    y_train = np.repeat(np.asarray(train_labels), n)
    y_test = np.repeat(np.asarray(test_labels), 4)
    return Dataset(name, rng.uniform(size=(len(y_train), 9)), y_train, rng.uniform(size=(len(y_test), 9)),
                   y_test, (3, 3))


def test_usable_data_pass():
    check_data(_dataset([0, 1, 2]))


@pytest.mark.parametrize("change, message", [
    (lambda d: d.X_train.__setitem__((5, 7), np.nan),
     "tiny: the training images hold 1 non-finite pixel value(s) (NaN or infinity), the first in image 5 at pixel 7: "
     "the data are corrupt"),
    (lambda d: d.X_test.__setitem__((2, 0), np.inf), "tiny: the test images hold 1 non-finite pixel value(s)"),
])
def test_non_finite_pixels_are_refused(change, message):
    dataset = _dataset([0, 1, 2])
    change(dataset)
    with pytest.raises(DataError) as refusal:
        check_data(dataset)
    assert str(refusal.value).startswith(message)


@pytest.mark.parametrize("train, test, message", [
    ([0], [0], "tiny: the training labels hold one class only ([0]); a classifier needs at least 2 classes"),
    ([0, 1], [0, 1, 2], "tiny: class(es) [2] have no training images (labels present: [0, 1])"),
])
def test_missing_classes_are_refused(train, test, message):
    with pytest.raises(DataError) as refusal:
        check_data(_dataset(train, test))
    assert str(refusal.value).startswith(message)


def test_labels_with_a_gap_are_refused_by_the_data_set_itself():
    # (IDX files are renumbered to 0..K-1 by their loader, tests/experiments/test_datasets_hostile.py)
    with pytest.raises(ValueError, match="labels must be 0..K-1 with every class present"):
        _dataset([0, 1, 3], [0, 1, 3])


def test_too_few_images_per_class_are_refused_with_advice():
    full = _dataset([0, 1, 2], n=1000)
    few = full.subset(n_train=150, seed=0)
    with pytest.raises(DataError) as refusal:
        check_data(few, full)
    assert str(refusal.value) == (f"tiny: class 0 has 50 training images after --n-train 150; the class statistics "
                                  f"need at least {MIN_IMAGES_PER_CLASS} per class (16 batch-means groups of 6); "
                                  f"--n-train {3 * MIN_IMAGES_PER_CLASS} gives every class enough")
    check_data(full.subset(n_train=3 * MIN_IMAGES_PER_CLASS, seed=0), full)   # the advice is enough


def _idx_directory(root, train_labels, nan=False):
    """An IDX directory of 6x6 images (float32 with ``nan``) with MIN_IMAGES_PER_CLASS images per label."""
    rng = np.random.default_rng(0)
    root.mkdir()
    for part in ("train", "t10k"):
        y = np.repeat(np.asarray(train_labels, np.uint8), MIN_IMAGES_PER_CLASS)
        X = rng.uniform(size=(len(y), 6, 6)).astype(np.float32)
        if nan:
            X[3, 2, 5] = np.nan
        write_idx(root / f"{part}-images-idx3-ubyte.gz", X if nan else (255 * X).astype(np.uint8))
        write_idx(root / f"{part}-labels-idx1-ubyte.gz", y)
    return root


@pytest.mark.parametrize("labels, nan, message", [
    ([0], False, "the training labels hold one class only ([0])"),
    ([0, 1, 2], True, "nan"),   # the IDX loader or check_data, whichever sees it first
])
def test_unusable_data_end_to_end(labels, nan, message, tmp_path, capsys):
    data = _idx_directory(tmp_path / "data", labels, nan)
    status, _, err = run_main(cli_main, MNIST + ["--data", str(data), "--quick", "--no-figures", "--out",
                                                 str(tmp_path / "out")], capsys)
    assert status == 2
    assert err.startswith("symcorr reproduce mnist: error: ") and message in err.lower()
    assert "Traceback" not in err and "constant" not in err


# -- training: --epochs, one progress line per run ------------------------------------------------

def _tiny_problem():
    from symcorr.networks.modules import Erf, mlp

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2))
    return mlp([2, 3, 2], Erf, seed=0), X, (X[:, 0] > 0).astype(int)


@pytest.mark.parametrize("epochs", [0, -1, 2.5])
def test_training_refuses_fewer_than_one_epoch(epochs):
    model, X, y = _tiny_problem()
    with pytest.raises(ValueError, match=r"epochs must be an integer >= 1 \(the network would stay untrained\)"):
        training.train_classifier(model, X, y, epochs=epochs)


def test_one_progress_line_per_training_run(capsys):
    model, X, y = _tiny_problem()
    history = training.train_classifier(model, X, y, epochs=4, label="tiny", X_val=X, y_val=y)
    lines = capsys.readouterr().err.splitlines()
    assert len(history) == 4
    assert len(lines) == 1 and lines[0].startswith(
        f"[tiny] epoch 4/4  loss {history[0]['loss']:.4f} -> {history[-1]['loss']:.4f}  val acc ")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_is_rewritten_in_place_on_a_terminal():
    terminal, log = _Terminal(), io.StringIO()
    for stream in (terminal, log):
        line = training.ProgressLine(stream)
        line.update("epoch 1/2  loss 10.0")
        line.update("epoch 2/2")
        line.finish("epoch 2/2 done")
    assert terminal.getvalue() == "\repoch 1/2  loss 10.0\repoch 2/2           \repoch 2/2 done      \n"
    assert log.getvalue() == "epoch 2/2 done\n"


# -- figure helpers ------------------------------------------------------------------------------

def test_negative_edgeworth_stretch_is_shaded_and_named():
    pytest.importorskip("matplotlib")
    from symcorr.experiments import figures

    plt = figures._pyplot()
    fig, ax = plt.subplots()
    grid = np.linspace(-3, 3, 61)
    density = np.where(np.abs(grid + 2) < 0.5, -2e-3, 0.1)
    figures._shade_negative(ax, grid, density)
    (label,) = ax.get_legend_handles_labels()[1]
    assert label == "Edgeworth < 0 (min -2.0e-03): clipped to 0"
    (span,) = ax.patches
    x0, x1 = span.get_x(), span.get_x() + span.get_width()
    assert (x0, x1) == pytest.approx((-2.4, -1.6))
    figures._shade_negative(ax, grid, np.abs(density))   # nothing negative: nothing shaded
    assert len(ax.patches) == 1
    plt.close(fig)


def test_demo_runs_and_agrees_with_quadrature(capsys):
    assert demo.main([]) == 0
    assert "OK: symcorr agrees with quadrature to 1e-10" in capsys.readouterr().out
