//! Shapes of DSL values and the typing rules of the operators, shared by the checker
//! (which reports violations) and the lowering (which relies on them).

use std::fmt;

/// The shape of a value: the DSL has scalars, vectors and matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// One number.
    Scalar,
    /// `[n]`
    Vector(usize),
    /// `[rows][cols]`, row-major.
    Matrix(usize, usize),
}

impl Shape {
    /// Shape of a declaration with these dimensions; `None` beyond two dimensions.
    pub fn from_dims(dims: &[usize]) -> Option<Shape> {
        match *dims {
            [] => Some(Shape::Scalar),
            [n] => Some(Shape::Vector(n)),
            [r, c] => Some(Shape::Matrix(r, c)),
            _ => None,
        }
    }

    /// The dimensions, outermost first (`[]` for a scalar).
    pub fn dims(self) -> Vec<usize> {
        match self {
            Shape::Scalar => vec![],
            Shape::Vector(n) => vec![n],
            Shape::Matrix(r, c) => vec![r, c],
        }
    }

    /// Number of scalar elements.
    pub fn len(self) -> usize {
        match self {
            Shape::Scalar => 1,
            Shape::Vector(n) => n,
            Shape::Matrix(r, c) => r * c,
        }
    }

    /// Whether the value has no elements (a zero-sized declaration).
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The shape with `other`'s dimensions after this one's (`diff`'s result shape);
    /// `None` above two dimensions.
    pub fn append(self, other: Shape) -> Shape {
        let dims: Vec<usize> = self.dims().into_iter().chain(other.dims()).collect();
        Shape::from_dims(&dims).expect("the check stage bounds a derivative's rank")
    }

    /// `(number of rows, shape of one row)` for indexing `v[i]` / `m[i]`; `None` for scalars.
    pub fn index(self) -> Option<(usize, Shape)> {
        match self {
            Shape::Scalar => None,
            Shape::Vector(n) => Some((n, Shape::Scalar)),
            Shape::Matrix(r, c) => Some((r, Shape::Vector(c))),
        }
    }

    /// Shape of an array literal of `n` elements of shape `self`; `None` beyond matrices.
    pub fn array_of(self, n: usize) -> Option<Shape> {
        match self {
            Shape::Scalar => Some(Shape::Vector(n)),
            Shape::Vector(c) => Some(Shape::Matrix(n, c)),
            Shape::Matrix(..) => None,
        }
    }

    /// Shape of an elementwise combination (`+ - /`, two-argument builtins): equal
    /// shapes, or a scalar broadcast against anything.
    pub fn broadcast(self, other: Shape) -> Option<Shape> {
        match (self, other) {
            (a, b) if a == b => Some(a),
            (Shape::Scalar, b) => Some(b),
            (a, Shape::Scalar) => Some(a),
            _ => None,
        }
    }

    /// Shape of `self * other`: the linear-algebra product when `self` is a matrix
    /// (matrix x vector, matrix x matrix, matrix x scalar), elementwise otherwise.
    pub fn product(self, other: Shape) -> Option<Shape> {
        match (self, other) {
            (Shape::Matrix(r, c), Shape::Vector(n)) if c == n => Some(Shape::Vector(r)),
            (Shape::Matrix(r, c), Shape::Matrix(n, k)) if c == n => Some(Shape::Matrix(r, k)),
            (Shape::Matrix(..), Shape::Vector(_) | Shape::Matrix(..)) => None,
            (a, b) => a.broadcast(b),
        }
    }

    /// Shape of the transpose; `None` for non-matrices.
    pub fn transpose(self) -> Option<Shape> {
        match self {
            Shape::Matrix(r, c) => Some(Shape::Matrix(c, r)),
            _ => None,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Scalar => write!(f, "scalar"),
            Shape::Vector(n) => write!(f, "vector [{n}]"),
            Shape::Matrix(r, c) => write!(f, "matrix [{r}][{c}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Shape::*;

    #[test]
    fn product_rules() {
        assert_eq!(Matrix(2, 3).product(Vector(3)), Some(Vector(2)));
        assert_eq!(Matrix(2, 3).product(Matrix(3, 4)), Some(Matrix(2, 4)));
        assert_eq!(Matrix(2, 3).product(Scalar), Some(Matrix(2, 3)));
        assert_eq!(Matrix(2, 3).product(Vector(2)), None);
        assert_eq!(Vector(3).product(Vector(3)), Some(Vector(3)));
        assert_eq!(Vector(3).product(Matrix(3, 3)), None);
        assert_eq!(Scalar.product(Matrix(3, 3)), Some(Matrix(3, 3)));
    }

    #[test]
    fn broadcast_rules() {
        assert_eq!(Scalar.broadcast(Vector(4)), Some(Vector(4)));
        assert_eq!(Vector(4).broadcast(Vector(3)), None);
        assert_eq!(Matrix(1, 2).broadcast(Matrix(1, 2)), Some(Matrix(1, 2)));
    }
}
