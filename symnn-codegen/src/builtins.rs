//! The builtin functions: names, arities and result shapes. One table, read by the
//! checker (arity, "did you mean", shape errors) and the lowering (meaning).

use crate::shape::Shape;

/// A builtin function of the DSL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    // Scalar functions, applied elementwise to arrays.
    /// `exp(x)`
    Exp,
    /// `ln(x)` / `log(x)`, natural logarithm
    Ln,
    /// `sqrt(x)`
    Sqrt,
    /// `abs(x)`; derivative 0 at 0
    Abs,
    /// `sin(x)`
    Sin,
    /// `cos(x)`
    Cos,
    /// `tanh(x)`
    Tanh,
    /// `sigmoid(x) = 1 / (1 + exp(-x))`
    Sigmoid,
    /// `relu(x) = max(x, 0)`; derivative 0 at 0
    Relu,
    /// `softplus(x) = ln(1 + exp(x))`, evaluated stably
    Softplus,
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
    // Losses, each a scalar.
    /// `mse(y, t)`: mean of squared differences
    Mse,
    /// `bce(p, t)`: mean binary cross-entropy of probabilities
    Bce,
    /// `bce_logits(z, t)`: the same from logits, stably
    BceLogits,
    /// `cross_entropy(z, t) = -sum(t * log_softmax(z))`
    CrossEntropy,
}

/// Every builtin by name, in the order error messages list them.
pub const BUILTINS: &[(&str, Builtin)] = &[
    ("exp", Builtin::Exp),
    ("ln", Builtin::Ln),
    ("log", Builtin::Ln),
    ("sqrt", Builtin::Sqrt),
    ("abs", Builtin::Abs),
    ("sin", Builtin::Sin),
    ("cos", Builtin::Cos),
    ("tanh", Builtin::Tanh),
    ("sigmoid", Builtin::Sigmoid),
    ("relu", Builtin::Relu),
    ("leaky_relu", Builtin::LeakyRelu),
    ("softplus", Builtin::Softplus),
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
    ("mse", Builtin::Mse),
    ("bce", Builtin::Bce),
    ("bce_logits", Builtin::BceLogits),
    ("cross_entropy", Builtin::CrossEntropy),
];

impl Builtin {
    /// The builtin called `name`, if any.
    pub fn lookup(name: &str) -> Option<Builtin> {
        BUILTINS.iter().find(|(n, _)| *n == name).map(|&(_, b)| b)
    }

    /// Number of arguments.
    pub fn arity(self) -> usize {
        use Builtin::*;
        match self {
            Exp | Ln | Sqrt | Abs | Sin | Cos | Tanh | Sigmoid | Relu | Softplus | Sq
            | Identity | Sum | Mean | Softmax | LogSoftmax | Transpose => 1,
            LeakyRelu | Powi | Pow | Max | Min | Dot | Mse | Bce | BceLogits | CrossEntropy => 2,
            Dense => 3,
        }
    }

    /// Whether this is a scalar function applied elementwise (and so usable as a
    /// `dense` activation when its arity is 1). `powi`'s second argument is a literal.
    pub fn is_elementwise(self) -> bool {
        use Builtin::*;
        matches!(
            self,
            Exp | Ln
                | Sqrt
                | Abs
                | Sin
                | Cos
                | Tanh
                | Sigmoid
                | Relu
                | Softplus
                | Sq
                | Identity
                | LeakyRelu
                | Powi
                | Pow
                | Max
                | Min
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
            _ => Err(format!("expects {} argument(s), found {}", self.arity(), args.len())),
        }
    }
}

/// The builtin names, for "unknown function" messages.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|(n, _)| *n)
}
