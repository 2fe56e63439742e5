r"""Safe operator expressions for configuration files.

An expression such as `"0.5*sx + 0.3*sz"` or `"kron(sz, sz) + 0.2*kron(sx, sx)"` is parsed
with Python's `ast` into a syntax tree and evaluated by walking a *whitelist* of node
types: numbers, the names and functions listed below, `+ - * / **` and `@`. Nothing is
ever passed to `eval`; attribute access, indexing, strings, keywords, lambdas and any other
construct are refused with a `ConfigError`.

Names (one-body dimension d):
    `id` identity; `jx jy jz jp jm` spin-(d-1)/2 matrices; `swap` (two-body);
    `pi`; for d = 2 also the Pauli matrices `sx sy sz` and `sp` (sigma_+), `sm` (sigma_-).
Functions:
    `kron(A, B, ...)`, `dag(A)` (adjoint), `E(a, b)` (matrix unit), `proj(a)` (= E(a, a)),
    `sqrt, exp, cos, sin` (of numbers).
`*` between two matrices is the matrix product (as is `@`); `number * matrix` scales.
"""

from __future__ import annotations

import ast
import math
import operator

import numpy as np

from .errors import ConfigError
from .operators import matrix_unit, pauli, sigma_minus, sigma_plus, spin_matrices, swap

__all__ = ["evaluate", "evaluate_function", "names_for", "FUNCTIONS", "FIELD_FUNCTIONS", "MAX_LENGTH", "MAX_DEPTH"]

MAX_LENGTH = 2000
MAX_POWER = 64
#: deepest nesting of an expression's syntax tree (checked before evaluating)
MAX_DEPTH = 200
#: largest magnitude of a number literal or intermediate scalar
MAX_MAGNITUDE = 1e300
#: largest side of a Kronecker product (two-body operators of d <= 32)
MAX_KRON_DIM = 1024


def _parse(text, field: str) -> ast.Expression:
    """Parse with the length and nesting limits checked before anything is evaluated."""
    if not isinstance(text, str):
        raise ConfigError(f"{field}: expected an expression string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ConfigError(f"{field}: expression longer than {MAX_LENGTH} characters; shorten it")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"{field}: cannot parse {text!r} ({exc.msg})") from None
    except (RecursionError, MemoryError):
        raise ConfigError(f"{field}: expression nested too deeply (limit {MAX_DEPTH} levels)") from None
    depth = _depth(tree)
    if depth > MAX_DEPTH:
        raise ConfigError(f"{field}: expression nested {depth} levels deep, over the limit of {MAX_DEPTH}; "
                          "simplify it (e.g. write 2*x instead of x+x+...)")
    return tree


def _depth(tree) -> int:
    """Depth of the syntax tree, without recursion."""
    best, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        best = max(best, level)
        if level > MAX_DEPTH + 1:
            return level
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(node))
    return best


def _number(value, field: str):
    """A literal or intermediate number, as float or complex, refused when astronomically large."""
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_MAGNITUDE:
            raise ConfigError(f"{field}: number too large (limit {MAX_MAGNITUDE:g})")
        return float(value)
    return value


class _Names(dict):
    """Name -> value, built on first use (the swap is d^2 x d^2: only when an expression uses it)."""

    def __init__(self, d: int, factories: dict):
        super().__init__()
        self.d, self.factories = d, factories

    def __contains__(self, key) -> bool:
        return key in self.factories

    def __missing__(self, key):
        value = self.factories[key]()
        self[key] = value
        return value

    def __iter__(self):
        return iter(self.factories)

    def keys(self):
        return self.factories.keys()


def names_for(d: int) -> dict[str, object]:
    """The names an expression may use for one-body dimension `d` (values built on first use)."""
    spin = {}

    def sm(key):
        return lambda: (spin.setdefault("m", spin_matrices(d)))[key]

    factories = {"id": sm("id"), "jx": sm("jx"), "jy": sm("jy"), "jz": sm("jz"), "jp": sm("jp"), "jm": sm("jm"),
                 "swap": lambda: swap(d), "pi": lambda: math.pi}
    if d == 2:
        factories.update(sx=lambda: pauli()["x"], sy=lambda: pauli()["y"], sz=lambda: pauli()["z"],
                         sp=sigma_plus, sm=sigma_minus)
    return _Names(d, factories)


def _scalar(name, fn):
    def wrapped(field, x):
        if isinstance(x, np.ndarray):
            raise ConfigError(f"{field}: {name}() takes a number, not a matrix")
        try:
            with np.errstate(all="raise"):
                out = complex(fn(x)) if isinstance(x, complex) else fn(x)
        except (OverflowError, FloatingPointError, ValueError):
            raise ConfigError(f"{field}: {name}({x!r}) is not a finite number") from None
        if not np.isfinite(out) or abs(out) > MAX_MAGNITUDE:
            raise ConfigError(f"{field}: {name}({x!r}) is not a finite number (or too large)")
        return out
    return wrapped


def _sqrt(x):
    if isinstance(x, complex) or x < 0:
        return complex(np.sqrt(complex(x)))
    return float(np.sqrt(x))


def _kron(field, *args):
    if len(args) < 2 or not all(isinstance(a, np.ndarray) for a in args):
        raise ConfigError(f"{field}: kron() takes two or more matrices")
    size = math.prod(a.shape[0] for a in args)
    if size > MAX_KRON_DIM:
        raise ConfigError(f"{field}: kron() of these matrices would be {size} x {size}, over the limit of "
                          f"{MAX_KRON_DIM} (operators here are one- or two-body)")
    out = args[0]
    for a in args[1:]:
        out = np.kron(out, a)
    return out


def _dag(field, A):
    if not isinstance(A, np.ndarray):
        raise ConfigError(f"{field}: dag() takes a matrix")
    return A.conj().T


def _int_arg(field, x, what):
    if isinstance(x, np.ndarray) or isinstance(x, complex) or not math.isfinite(x) or float(x) != int(x):
        raise ConfigError(f"{field}: {what} takes integer indices")
    return int(x)


FUNCTIONS = {
    "kron": _kron,
    "dag": _dag,
    "sqrt": _scalar("sqrt", _sqrt),
    "exp": _scalar("exp", np.exp),
    "cos": _scalar("cos", np.cos),
    "sin": _scalar("sin", np.sin),
}

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Div: operator.truediv}


def evaluate(text: str, d: int, field: str = "expression", parameters: dict | None = None):
    """Evaluate an operator expression for one-body dimension `d`; return a number or a complex matrix.
    `parameters` (name -> number) are available as names."""
    tree = _parse(text, field)
    names = names_for(d)
    for key, value in (parameters or {}).items():
        names.factories[key] = (lambda v=value: v)

    def fn_E(a, b):
        a, b = _int_arg(field, a, "E(a, b)"), _int_arg(field, b, "E(a, b)")
        if not (0 <= a < d and 0 <= b < d):
            raise ConfigError(f"{field}: E({a}, {b}) needs indices in 0..{d - 1}")
        return matrix_unit(d, a, b)

    def visit(node):
        if isinstance(node, ast.Expression):
            return visit(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float, complex)):
                raise ConfigError(f"{field}: only numbers are allowed as literals, got {node.value!r}")
            return _number(node.value, field)
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise ConfigError(
                    f"{field}: unknown name {node.id!r}; allowed names for d = {d}: {', '.join(sorted(names))}"
                )
            v = names[node.id]
            return v.copy() if isinstance(v, np.ndarray) else v
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = visit(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            left, right = visit(node.left), visit(node.right)
            return _binop(node.op, left, right)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise ConfigError(f"{field}: only plain function calls are allowed (no attribute access)")
            if node.keywords:
                raise ConfigError(f"{field}: keyword arguments are not allowed")
            fname = node.func.id
            if fname not in FUNCTIONS and fname not in ("E", "proj"):
                allowed = ", ".join(sorted(list(FUNCTIONS) + ["E", "proj"]))
                raise ConfigError(f"{field}: function {fname!r} is not allowed; allowed functions: {allowed}")
            args = [visit(a) for a in node.args]
            if fname == "E":
                if len(args) != 2:
                    raise ConfigError(f"{field}: E(a, b) takes two indices")
                return fn_E(*args)
            if fname == "proj":
                if len(args) != 1:
                    raise ConfigError(f"{field}: proj(a) takes one index")
                return fn_E(args[0], args[0])
            if fname in ("dag", "sqrt", "exp", "cos", "sin") and len(args) != 1:
                raise ConfigError(f"{field}: {fname}() takes one argument")
            return FUNCTIONS[fname](field, *args)
        raise ConfigError(
            f"{field}: {type(node).__name__} is not allowed in an operator expression "
            "(use numbers, names, + - * / ** @ and the listed functions)"
        )

    def _binop(op, a, b):
        am, bm = isinstance(a, np.ndarray), isinstance(b, np.ndarray)
        if isinstance(op, (ast.Add, ast.Sub)):
            if am != bm:
                raise ConfigError(f"{field}: cannot add a number and a matrix; multiply the number by id")
            if am and a.shape != b.shape:
                raise ConfigError(f"{field}: cannot add matrices of shapes {a.shape} and {b.shape}")
            return _BINOPS[type(op)](a, b)
        if isinstance(op, (ast.Mult, ast.MatMult)):
            if am and bm:
                if a.shape[1] != b.shape[0]:
                    raise ConfigError(f"{field}: cannot multiply matrices of shapes {a.shape} and {b.shape}")
                return a @ b
            if isinstance(op, ast.MatMult):
                raise ConfigError(f"{field}: @ needs two matrices")
            return a * b
        if isinstance(op, ast.Div):
            if bm:
                raise ConfigError(f"{field}: cannot divide by a matrix")
            if b == 0:
                raise ConfigError(f"{field}: division by zero")
            return a / b
        if isinstance(op, ast.Pow):
            if bm:
                raise ConfigError(f"{field}: a matrix cannot be an exponent")
            if am:
                if isinstance(b, complex) or float(b) != int(b) or not 0 <= int(b) <= MAX_POWER:
                    raise ConfigError(f"{field}: a matrix power needs an integer exponent in 0..{MAX_POWER}")
                return np.linalg.matrix_power(a, int(b))
            if abs(b) > MAX_POWER * 16:
                raise ConfigError(f"{field}: exponent {b} too large")
            try:
                out = a ** b
            except OverflowError:
                raise ConfigError(f"{field}: the power {a!r} ** {b!r} is too large") from None
            except ZeroDivisionError:
                raise ConfigError(f"{field}: 0 cannot be raised to a negative power") from None
            if not np.isfinite(out) or abs(out) > MAX_MAGNITUDE:
                raise ConfigError(f"{field}: the power {a!r} ** {b!r} is too large")
            return out
        raise ConfigError(f"{field}: operator {type(op).__name__} is not allowed")

    value = visit(tree)
    if isinstance(value, np.ndarray):
        value = np.asarray(value, dtype=complex)
        if not np.all(np.isfinite(value)):
            raise ConfigError(f"{field}: the expression gives non-finite entries")
    return value


# ----------------------------------------------------------------------------- scalar fields
#: smooth elementwise functions allowed in expressions of x (and p); all accept complex
#: arguments, so derivatives can be taken by the complex step
FIELD_FUNCTIONS = {"sqrt": np.sqrt, "exp": np.exp, "log": np.log, "cos": np.cos, "sin": np.sin, "tan": np.tan,
                   "cosh": np.cosh, "sinh": np.sinh, "tanh": np.tanh, "arctan": np.arctan}
_FIELD_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
#: the variables of the function language (:func:`evaluate_function`)
FIELD_VARIABLES = ("x", "p")

#: names no parameter may take: derived from both languages (operators and constants of
#: :func:`names_for`, the functions, the variables), so a new name is reserved where it is defined
RESERVED_NAMES = frozenset(names_for(2)) | frozenset(FUNCTIONS) | {"E", "proj"} | frozenset(FIELD_FUNCTIONS) \
    | frozenset(FIELD_VARIABLES)


def evaluate_function(text: str, variables: dict, field: str = "expression", parameters: dict | None = None):
    """Evaluate an expression of array variables (e.g. `"-cos(x)"`, `"exp(-x**2/2)"`) elementwise.

    Numbers, the variables, `pi`, named `parameters` (numbers), `+ - * / **` and the smooth
    functions of `FIELD_FUNCTIONS`; complex variables are allowed (complex-step derivatives).
    The same limits as `evaluate` apply (length, nesting, magnitudes); nothing is ever
    passed to `eval`. Returns an array broadcast to the variables' shape.
    """
    tree = _parse(text, field)
    names = {"pi": math.pi, **(parameters or {}), **variables}
    shape = np.broadcast_shapes(*(np.shape(v) for v in variables.values())) if variables else ()

    def visit(node):
        if isinstance(node, ast.Expression):
            return visit(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ConfigError(f"{field}: only real numbers are allowed as literals, got {node.value!r}")
            return _number(node.value, field)
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise ConfigError(f"{field}: unknown name {node.id!r}; allowed: {', '.join(sorted(names))} and the "
                                  f"functions {', '.join(sorted(FIELD_FUNCTIONS))}")
            return names[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = visit(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            a, b = visit(node.left), visit(node.right)
            if isinstance(node.op, ast.Pow):
                if np.ndim(b) or abs(b) > MAX_POWER * 16:
                    raise ConfigError(f"{field}: exponents must be numbers of size at most {MAX_POWER * 16}")
                if np.ndim(a) == 0 and abs(a) > 1 and abs(b) * math.log10(abs(a)) > 300:
                    raise ConfigError(f"{field}: the power {a!r} ** {b!r} is too large")
                with np.errstate(all="ignore"):
                    return a ** b
            if type(node.op) not in _FIELD_BINOPS:
                raise ConfigError(f"{field}: operator {type(node.op).__name__} is not allowed")
            if isinstance(node.op, ast.Div) and np.ndim(b) == 0 and b == 0:
                raise ConfigError(f"{field}: division by zero")
            with np.errstate(all="ignore"):
                return _FIELD_BINOPS[type(node.op)](a, b)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FIELD_FUNCTIONS:
                name = getattr(node.func, "id", "?")
                raise ConfigError(f"{field}: function {name!r} is not allowed; allowed: "
                                  f"{', '.join(sorted(FIELD_FUNCTIONS))}")
            if node.keywords or len(node.args) != 1:
                raise ConfigError(f"{field}: {node.func.id}() takes one argument")
            with np.errstate(all="ignore"):
                return FIELD_FUNCTIONS[node.func.id](visit(node.args[0]))
        raise ConfigError(f"{field}: {type(node).__name__} is not allowed in an expression of "
                          f"{', '.join(variables) or 'numbers'}")

    value = np.broadcast_to(np.asarray(visit(tree)), shape).copy() if shape else np.asarray(visit(tree))
    if not np.all(np.isfinite(value)):
        raise ConfigError(f"{field}: the expression {text!r} is not finite everywhere on the grid")
    return value
