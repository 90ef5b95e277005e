/// Operation counts of the code a `network!` generated, after simplification and CSE.
///
/// An "op" is one arithmetic operation (`+ - * /`, negation) or one function call
/// (`exp`, `ln`, `tanh`, ...) in the emitted straight-line code. `*_calls` count the
/// function calls alone, since on most machines they dominate the time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Cost {
    /// Ops in `forward` (output only).
    pub forward_ops: usize,
    /// Function calls among `forward_ops`.
    pub forward_calls: usize,
    /// Ops in `gradient` (loss and every dL/dparam, forward pass included).
    pub gradient_ops: usize,
    /// Function calls among `gradient_ops`.
    pub gradient_calls: usize,
}

impl core::fmt::Display for Cost {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "forward: {} ops ({} calls), gradient: {} ops ({} calls)",
            self.forward_ops, self.forward_calls, self.gradient_ops, self.gradient_calls
        )
    }
}
