"""Shared by the tests of hostile and careless input: a guard against hanging, and the issue's cases."""
import signal
from contextlib import contextmanager


@contextmanager
def no_hang(seconds=60):
    """Fail (AssertionError) instead of hanging when the block runs longer than ``seconds``: a guard
    for adversarial inputs, not a speed target (main thread, POSIX)."""
    def fail(signum, frame):
        raise AssertionError(f"did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# the issue's item 3 (and item 5's numbers): each was > 60 s, a MemoryError or a traceback before
ISSUE_CASES = [
    ("Sigma_ij*(1+10**3000)", r"10\*\*3000 has more than 400 digits \(symcorr.notation.limits.MAX_DIGITS\)"),
    ("((((mu_i+mu_j+Sigma_ij)**100)**100)**100)",
     r"gives up to 500001500001 terms \(at most 20000, symcorr.notation.limits.MAX_TERMS\)"),
    ("(mu_i+mu_j+Sigma_ij+kappa_iij+kappa_ijj)**100",
     r"gives up to 4598126 terms \(at most 20000, symcorr.notation.limits.MAX_TERMS\)"),
    ("E**1000", r"the constant exp\(1000\) may lie outside float64's range: its binary exponent may reach "
                r"\+-1443 \(at most \+-1024, symcorr.notation.limits.MAX_LOG2_MAGNITUDE\)"),
    ("exp(exp(exp(exp(10000))))", r"the constant exp\(10000\) may lie outside float64's range"),
    ("z + 1e-400*z**2", r"number 1e-400 is smaller in magnitude than float64's smallest normal number "
                        r"2.225e-308 \(the kernels compute in float64, where it would be 0\)"),
    ("1e999", r"number 1e999 exceeds float64's largest finite number 1.798e\+308 "
              r"\(the kernels compute in float64, where it would be infinite\)"),
]


