"""Plain-text formatting of numbers and tables for the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas only where a table is printed: validate does not import it
    import pandas as pd

__all__ = ["yuan", "number", "table", "formatted", "difference", "missing", "interval_note", "MIN_INFORMATIVE_REPS"]

MIN_INFORMATIVE_REPS = 5  # fewer replications: a 95% interval is too wide to read (Student t)


def yuan(x: float) -> str:
    """Money in millions of yuan when large, else whole yuan."""
    return f"{x / 1e6:,.2f} M yuan" if abs(x) >= 1e6 else f"{x:,.0f} yuan"


def missing(x: Any) -> bool:
    """``pandas.isna`` of a scalar: None, NaN, NaT or pandas' NA."""
    try:
        return x is None or bool(x != x)
    except TypeError:  # pandas' NA has no truth value
        return True


def number(x: float) -> str:
    """A number with thousands separators and at most two decimals; "–" where there is none (NaN)."""
    if missing(x):
        return "–"
    x = round(float(x), 2) + 0.0  # also turns -0.0 into 0.0
    if x.is_integer():
        return f"{int(x):,}"
    return f"{x:,.2f}"


def difference(v: float, share: bool) -> str:
    """A paired difference with its sign: shares in percentage points (+0.39 pt; +0.0021 pt under 0.005),
    others with one decimal (+0.003 under 0.05); never "-0.00" (a difference that rounds to zero is
    "0.0000 pt" or "0.000"); "–" for none."""
    if missing(v):
        return "–"
    raw = float(v) * (100 if share else 1)
    # a difference too small for the usual decimals keeps two more, so that a significant +0.0021 pt (or
    # +0.003 hours) does not print as "0.00 pt [0.00 pt, 0.00 pt] significant"
    digits = (4 if abs(raw) < 0.005 else 2) if share else (3 if abs(raw) < 0.05 else 1)
    x = round(raw, digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    text = f"{x:+.{digits}f} pt" if share else f"{x:+,.{digits}f}"
    return text.lstrip("+") if x == 0 else text


def table(df: pd.DataFrame) -> str:
    """Right-aligned text table; floats shown with thousands separators."""
    return formatted(df).to_string(index=False)


def formatted(df: pd.DataFrame) -> pd.DataFrame:
    """Every cell as shown to a reader: shares as percentages, yuan and other numbers with thousands
    separators, "–" for no value, checks as pass/FAIL and other flags as yes/no (the console and study pages)."""
    import pandas as pd

    shown = df.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]) and any(w in col for w in ("share", "coverage", "utilisation")):
            shown[col] = shown[col].map(lambda v: "–" if pd.isna(v) else f"{v:.1%}")
        elif pd.api.types.is_float_dtype(shown[col]) and col.endswith("_yuan"):
            shown[col] = shown[col].map(lambda v: "–" if pd.isna(v) else f"{v:,.0f}")
        elif pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(number)
        elif pd.api.types.is_bool_dtype(shown[col]):
            # a check passes or fails; any other flag (feasible, resumed, significant) is yes or no
            shown[col] = shown[col].map(
                {True: "pass", False: "FAIL"} if col == "passed" else {True: "yes", False: "no"}
            )
    return shown


def interval_note(reps: int) -> str:
    """What intervals over ``reps`` replications can say: with few, almost nothing (empty from 5 up)."""
    if reps >= MIN_INFORMATIVE_REPS:
        return ""
    from scipy.special import stdtrit  # scipy.stats.t.ppf's own function, without scipy.stats' start-up

    t = float(stdtrit(reps - 1, 0.975))
    return (
        f"With {reps} replications each 95% interval is {t:.1f} standard errors wide on either side (Student t "
        f"with {reps - 1} degree{'s' if reps > 2 else ''} of freedom): a difference is rarely significant and "
        f"the intervals say little. Run {MIN_INFORMATIVE_REPS} or more replications to read them."
    )
