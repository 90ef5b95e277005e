//! Which `for` loops can be emitted as Rust loops, shared by the check stage (whose
//! size budget counts such a loop's body once) and the lowering (which rolls it,
//! `lower/rolled.rs`).
//!
//! One iteration must be a function of a run-time array: the loop stays unrolled when
//! its body assigns a binding element at an index that depends on the loop variable,
//! reads a binding (rather than an input, target or parameter) at such an index,
//! contains `diff`/`laplacian` (also inside a called `fn`), states the loss, or defines
//! the output.

use crate::resolved::{BindingId, Expr, ExprKind, FnId, Index, LoopVarId, Stmt};

/// Deepest `fn` nesting followed (the check stage stops deeper programs first).
const MAX_FN_DEPTH: usize = 64;

/// Whether `index` depends on `var`.
pub fn mentions(index: &Index, var: LoopVarId) -> bool {
    match index {
        Index::Const(_) => false,
        Index::Var(v) => *v == var,
        Index::Neg(a) => mentions(a, var),
        Index::Binary(_, a, b) => mentions(a, var) || mentions(b, var),
    }
}

/// What a loop body does with the bindings defined before it.
#[derive(Default, Debug)]
pub struct Usage {
    /// Bindings assigned in the body (in order of first assignment).
    pub assigned: Vec<BindingId>,
    /// Bindings defined (`let`) in the body.
    pub defined: Vec<BindingId>,
    /// Bindings read in the body (in order of first read).
    pub read: Vec<BindingId>,
}

impl Usage {
    /// The state: bindings defined before the loop and assigned in it.
    pub fn state(&self) -> Vec<BindingId> {
        self.assigned
            .iter()
            .copied()
            .filter(|b| !self.defined.contains(b))
            .collect()
    }

    /// The captured values: bindings defined before the loop, read and not assigned.
    pub fn captured(&self) -> Vec<BindingId> {
        self.read
            .iter()
            .copied()
            .filter(|b| !self.defined.contains(b) && !self.assigned.contains(b))
            .collect()
    }
}

/// How a loop body uses bindings, or `None` when the loop must stay unrolled (module
/// docs). `fn_body` gives a user `fn`'s body (`None` when unknown: it must unroll).
pub fn usage<'e>(
    body: &[Stmt],
    var: Option<LoopVarId>,
    output: Option<BindingId>,
    fn_body: &dyn Fn(FnId) -> Option<&'e Expr>,
) -> Option<Usage> {
    let mut walk = Walk {
        usage: Usage::default(),
        var,
        output,
        fn_body,
    };
    walk.block(body).then_some(walk.usage)
}

struct Walk<'f, 'e> {
    usage: Usage,
    var: Option<LoopVarId>,
    output: Option<BindingId>,
    fn_body: &'f dyn Fn(FnId) -> Option<&'e Expr>,
}

fn note(list: &mut Vec<BindingId>, b: BindingId) {
    if !list.contains(&b) {
        list.push(b);
    }
}

impl Walk<'_, '_> {
    fn block(&mut self, body: &[Stmt]) -> bool {
        body.iter().all(|stmt| match stmt {
            Stmt::Let { binding, value } => {
                note(&mut self.usage.defined, *binding);
                Some(*binding) != self.output && self.expr(value)
            }
            Stmt::Assign {
                binding,
                indices,
                value,
            } => {
                note(&mut self.usage.assigned, *binding);
                let var = self.var;
                var.is_none_or(|v| !indices.iter().any(|i| mentions(i, v))) && self.expr(value)
            }
            Stmt::For { body, .. } => self.block(body),
            Stmt::Loss(_) => false,
        })
    }

    fn expr(&mut self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Num(_) | ExprKind::LoopVar(_) | ExprKind::Slot(_) | ExprKind::Arg(_) => true,
            ExprKind::Binding(b) => {
                note(&mut self.usage.read, *b);
                true
            }
            ExprKind::Diff(..) | ExprKind::Laplacian(..) => false,
            ExprKind::Neg(a) | ExprKind::Powi(a, _) => self.expr(a),
            ExprKind::Elementwise(_, a, b) | ExprKind::MatMul(a, b) => self.expr(a) && self.expr(b),
            ExprKind::Array(items) | ExprKind::Apply(_, items) => {
                items.iter().all(|x| self.expr(x))
            }
            ExprKind::Call(f, items) => {
                (self.fn_body)(*f).is_some_and(|body| !contains_diff(body, self.fn_body, 0))
                    && items.iter().all(|x| self.expr(x))
            }
            ExprKind::Dense { input, .. } => self.expr(input),
            ExprKind::Index(base, index) => {
                let loop_index = self.var.is_some_and(|v| mentions(index, v));
                if loop_index && !indexes_a_declaration(base) {
                    return false;
                }
                self.expr(base)
            }
        }
    }
}

/// `base` is a declaration, possibly indexed: `x`, `traj[k]`.
fn indexes_a_declaration(base: &Expr) -> bool {
    match &base.kind {
        ExprKind::Slot(_) => true,
        ExprKind::Index(inner, _) => indexes_a_declaration(inner),
        _ => false,
    }
}

/// Whether `e` (or a `fn` it calls) contains `diff` or `laplacian` (or calls deeper
/// than the check stage allows, which only an erroneous program does).
fn contains_diff<'e>(e: &Expr, fn_body: &dyn Fn(FnId) -> Option<&'e Expr>, depth: usize) -> bool {
    if depth > MAX_FN_DEPTH {
        return true;
    }
    let any = |items: &[Expr]| items.iter().any(|x| contains_diff(x, fn_body, depth));
    match &e.kind {
        ExprKind::Diff(..) | ExprKind::Laplacian(..) => true,
        ExprKind::Num(_)
        | ExprKind::LoopVar(_)
        | ExprKind::Slot(_)
        | ExprKind::Arg(_)
        | ExprKind::Binding(_) => false,
        ExprKind::Neg(a) | ExprKind::Powi(a, _) | ExprKind::Index(a, _) => {
            contains_diff(a, fn_body, depth)
        }
        ExprKind::Elementwise(_, a, b) | ExprKind::MatMul(a, b) => {
            contains_diff(a, fn_body, depth) || contains_diff(b, fn_body, depth)
        }
        ExprKind::Array(items) | ExprKind::Apply(_, items) => any(items),
        ExprKind::Call(f, items) => {
            fn_body(*f).is_none_or(|body| contains_diff(body, fn_body, depth + 1)) || any(items)
        }
        ExprKind::Dense { input, .. } => contains_diff(input, fn_body, depth),
    }
}

/// Bytes of stored states a rolled loop keeps whole (one per iteration); above this it
/// keeps checkpoints and recomputes between them.
pub const KEPT_STATES_BYTES: usize = 256 * 1024;
/// Most bytes of stored states (checkpoints plus one segment) a rolled loop may keep on
/// the stack; a loop that would need more stays unrolled (and then meets the size
/// budget).
pub const MAX_STATES_BYTES: usize = 512 * 1024;

/// How a rolled loop keeps its states for the reverse pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Every iteration's state: `(count + 1) × state` values.
    All,
    /// The state every `every` iterations (`every ≈ √count`), each segment recomputed
    /// forward once during the reverse pass: `(count / every + every + 1) × state`
    /// values for one more forward pass.
    Checkpoints {
        /// Iterations per segment.
        every: usize,
    },
}

/// How a loop of `count` iterations with a state of `state_len` values of
/// `float_bytes` bytes keeps its states; `None` when even checkpoints do not fit.
pub fn storage(count: u64, state_len: usize, float_bytes: usize) -> Option<Storage> {
    let count = usize::try_from(count).ok()?;
    let per_state = state_len.max(1).saturating_mul(float_bytes);
    if count.saturating_add(1).saturating_mul(per_state) <= KEPT_STATES_BYTES {
        return Some(Storage::All);
    }
    let every = count.isqrt().max(1);
    let every = if every * every < count {
        every + 1
    } else {
        every
    };
    let kept = count.div_ceil(every) + every + 1;
    (kept.saturating_mul(per_state) <= MAX_STATES_BYTES).then_some(Storage::Checkpoints { every })
}
