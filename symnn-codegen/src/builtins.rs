//! The builtin functions: names, arities and result shapes. One table ([`BUILTINS`]),
//! read by the checker (arity, "did you mean", shape errors), the lowering (meaning)
//! and the IR: the scalar functions that are graph nodes ([`Func`]) are builtins too,
//! so each name is listed once.

use crate::shape::Shape;

/// A one-argument function node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Func {
    /// `e^x`
    Exp,
    /// natural logarithm
    Ln,
    /// square root
    Sqrt,
    /// `|x|`
    Abs,
    /// sine
    Sin,
    /// cosine
    Cos,
    /// hyperbolic tangent
    Tanh,
    /// `1 / (1 + e^-x)`
    Sigmoid,
    /// `max(x, 0)`
    Relu,
    /// `ln(1 + e^x)`, evaluated stably
    Softplus,
}

impl Func {
    /// The DSL name (from [`BUILTINS`], the one table of names).
    pub fn name(self) -> &'static str {
        BUILTINS
            .iter()
            .find(|(_, b)| *b == Builtin::Func(self))
            .map_or("?", |(name, _)| name)
    }

    /// The function's value, computed the way the emitted code computes it.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            Func::Exp => x.exp(),
            Func::Ln => x.ln(),
            Func::Sqrt => x.sqrt(),
            Func::Abs => x.abs(),
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
            Func::Tanh => x.tanh(),
            Func::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Func::Relu => x.max(0.0),
            Func::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
        }
    }
}

/// A builtin function of the DSL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// A scalar function that is also a node of the IR (`exp`, `tanh`, ...), applied
    /// elementwise to arrays.
    Func(Func),
    /// `sq(x) = x * x`
    Sq,
    /// `identity(x) = x`
    Identity,
    /// `leaky_relu(x, slope)`
    LeakyRelu,
    /// `powi(x, N)`, `N` an integer literal.
    Powi,
    /// `pow(x, y)`
    Pow,
    /// `max(a, b)`; the gradient goes to `a` on ties.
    Max,
    /// `min(a, b)`; the gradient goes to `a` on ties.
    Min,
    // Reductions and vector functions.
    /// Sum of all elements (vector or matrix).
    Sum,
    /// Mean of all elements.
    Mean,
    /// `dot(a, b)`: sum of elementwise products of equal shapes.
    Dot,
    /// `softmax(v)` of a vector
    Softmax,
    /// `log_softmax(v)` of a vector, with a max shift
    LogSoftmax,
    /// `transpose(m)`
    Transpose,
    /// `dense(x, units, activation)`
    Dense,
    /// `diff(e, v)`: the derivative of `e` with respect to an input, parameter or `fn`
    /// parameter `v` (the checker resolves it to `ExprKind::Diff`).
    Diff,
    /// `laplacian(e, v)`: `Σᵢ ∂²e/∂vᵢ²` (resolved to `ExprKind::Laplacian`).
    Laplacian,
    // Losses, each a scalar.
    /// `mse(y, t)`: mean of squared differences
    Mse,
    /// `bce(p, t)`: mean binary cross-entropy of probabilities
    Bce,
    /// `bce_logits(z, t)`: the same from logits, stably
    BceLogits,
    /// `cross_entropy(z, t) = -sum(t * log_softmax(z))`
    CrossEntropy,
    /// `sparse_cross_entropy(z, k) = logsumexp(z) - z[k]`: the class index `k` (a
    /// scalar) instead of a one-hot target
    SparseCrossEntropy,
}

/// Every builtin by name, in the order error messages list them.
pub const BUILTINS: &[(&str, Builtin)] = &[
    ("exp", Builtin::Func(Func::Exp)),
    ("ln", Builtin::Func(Func::Ln)),
    ("log", Builtin::Func(Func::Ln)),
    ("sqrt", Builtin::Func(Func::Sqrt)),
    ("abs", Builtin::Func(Func::Abs)),
    ("sin", Builtin::Func(Func::Sin)),
    ("cos", Builtin::Func(Func::Cos)),
    ("tanh", Builtin::Func(Func::Tanh)),
    ("sigmoid", Builtin::Func(Func::Sigmoid)),
    ("relu", Builtin::Func(Func::Relu)),
    ("leaky_relu", Builtin::LeakyRelu),
    ("softplus", Builtin::Func(Func::Softplus)),
    ("sq", Builtin::Sq),
    ("powi", Builtin::Powi),
    ("pow", Builtin::Pow),
    ("max", Builtin::Max),
    ("min", Builtin::Min),
    ("identity", Builtin::Identity),
    ("sum", Builtin::Sum),
    ("mean", Builtin::Mean),
    ("dot", Builtin::Dot),
    ("softmax", Builtin::Softmax),
    ("log_softmax", Builtin::LogSoftmax),
    ("transpose", Builtin::Transpose),
    ("dense", Builtin::Dense),
    ("diff", Builtin::Diff),
    ("laplacian", Builtin::Laplacian),
    ("mse", Builtin::Mse),
    ("bce", Builtin::Bce),
    ("bce_logits", Builtin::BceLogits),
    ("cross_entropy", Builtin::CrossEntropy),
    ("sparse_cross_entropy", Builtin::SparseCrossEntropy),
];

impl Builtin {
    /// The builtin called `name`, if any.
    pub fn lookup(name: &str) -> Option<Builtin> {
        BUILTINS.iter().find(|(n, _)| *n == name).map(|&(_, b)| b)
    }

    /// Number of arguments.
    pub fn arity(self) -> usize {
        self.params().len()
    }

    /// The parameters' names, as the DSL documentation writes them: the signature
    /// `leaky_relu(x, slope)` that arity errors show.
    pub fn params(self) -> &'static [&'static str] {
        use Builtin::*;
        match self {
            Func(_) | Sq | Identity => &["x"],
            Sum | Mean | Softmax | LogSoftmax => &["v"],
            Transpose => &["m"],
            LeakyRelu => &["x", "slope"],
            Powi => &["x", "N"],
            Pow => &["x", "y"],
            Max | Min | Dot => &["a", "b"],
            Mse => &["y", "t"],
            Bce => &["p", "t"],
            BceLogits | CrossEntropy => &["z", "t"],
            SparseCrossEntropy => &["z", "k"],
            Diff | Laplacian => &["e", "v"],
            Dense => &["x", "units", "activation"],
        }
    }

    /// Whether this is a scalar function applied elementwise (and so usable as a
    /// `dense` activation when its arity is 1). `powi`'s second argument is a literal.
    pub fn is_elementwise(self) -> bool {
        use Builtin::*;
        matches!(
            self,
            Func(_) | Sq | Identity | LeakyRelu | Powi | Pow | Max | Min
        )
    }

    /// Result shape of the builtin applied to arguments of these shapes, for every
    /// builtin except `dense` and `powi` (whose extra arguments are literals, checked
    /// by the checker). `Err` explains the mismatch.
    pub fn result_shape(self, args: &[Shape]) -> Result<Shape, String> {
        use Builtin::*;
        match (self, args) {
            (b, [x]) if b.is_elementwise() => Ok(*x),
            (b, [x, y]) if b.is_elementwise() => x
                .broadcast(*y)
                .ok_or_else(|| format!("the arguments' shapes differ: {x} and {y} (a scalar broadcasts; other shapes must be equal)")),
            (Sum | Mean, [_]) => Ok(Shape::Scalar),
            (Softmax | LogSoftmax, [Shape::Vector(n)]) => Ok(Shape::Vector(*n)),
            (Softmax | LogSoftmax, [x]) => Err(format!("expects a vector, found a {x}")),
            (Transpose, [x]) => x.transpose().ok_or_else(|| format!("expects a matrix, found a {x}")),
            (Dot, [x, y]) if x == y && *x != Shape::Scalar => Ok(Shape::Scalar),
            (Dot, [x, y]) => Err(format!("expects two vectors (or matrices) of the same shape, found {x} and {y}")),
            // Elementwise losses broadcast a scalar like `-` does: `mse(y, 0.0)`, or a
            // one-output `dense` against a scalar `target t;`.
            (Mse | Bce | BceLogits, [x, y]) if x.broadcast(*y).is_some() => Ok(Shape::Scalar),
            (Mse | Bce | BceLogits, [x, y]) => Err(format!(
                "prediction and target shapes differ: {x} and {y} (they must be equal, or one a scalar)"
            )),
            (CrossEntropy, [Shape::Vector(n), Shape::Vector(m)]) if n == m => Ok(Shape::Scalar),
            (CrossEntropy, [x, y]) => Err(format!("expects logits and target vectors of the same length, found {x} and {y}")),
            (SparseCrossEntropy, [Shape::Vector(_), Shape::Scalar]) => Ok(Shape::Scalar),
            (SparseCrossEntropy, [x, y]) => Err(sparse_cross_entropy_error(*x, *y)),
            _ => Err(format!("expects {} argument(s), found {}", self.arity(), args.len())),
        }
    }
}

/// Why `sparse_cross_entropy(z, k)` rejects these shapes: `z` must be a vector of
/// logits and `k` a scalar class index.
fn sparse_cross_entropy_error(z: Shape, k: Shape) -> String {
    let index = "a scalar class index as its second argument (e.g. `target k;`)";
    let problems: Vec<String> = [
        (!matches!(z, Shape::Vector(_)))
            .then(|| format!("a vector of logits as its first argument, found a {z}")),
        match k {
            Shape::Scalar => None,
            Shape::Vector(1) => Some(format!("{index}, found a {k} (write `k[0]`)")),
            Shape::Vector(_) if k == z => Some(format!(
                "{index}, found a {k}; for a one-hot target use `cross_entropy(z, t)`"
            )),
            k => Some(format!("{index}, found a {k}")),
        },
    ]
    .into_iter()
    .flatten()
    .collect();
    format!("expects {}", problems.join(", and "))
}

/// The builtin names, for "unknown function" messages.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|(n, _)| *n)
}
