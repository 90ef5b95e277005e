//! Rolled loops: a top-level `for` whose unrolled size passes the loop threshold is
//! lowered once, as the graph of one iteration, and emitted as a Rust loop
//! (backpropagation through time, `crate::bptt` and `emit/rolled.rs`).
//!
//! One iteration is a function of a run-time array (`Node::Var` leaves), laid out as
//! - the **state**: every binding defined before the loop and assigned in it, which
//!   is what one iteration hands to the next;
//! - the **captured** values: bindings defined before the loop and only read in it;
//! - the **reads**: elements of inputs, targets or parameters at indices that depend
//!   on the loop variable (`x[k]`, `traj[k + 1]`), and the loop variable itself when
//!   the body uses it as a number, filled in per iteration;
//! - the **seeds** (added by `crate::bptt`): the adjoint of the next state, which
//!   the reverse pass feeds back.
//!
//! In the program around the loop, the loop's results are `Var` leaves too (the
//! graph's own numbering), so the code before and after the loop is simplified and
//! differentiated as usual.
//!
//! A loop stays unrolled (exactly as before this existed) when it is below the
//! threshold or when the body does something one iteration cannot express as a
//! function of that array: it assigns a binding element at an index that depends on
//! the loop variable, reads a binding at such an index, or contains `diff`/`laplacian`.
//! Loops nested in a rolled body are unrolled inside it.

use super::{binding_index, Lowering, Tensor, Value};
use crate::graph::{Graph, Node, NodeId};
use crate::loops::mentions;
use crate::resolved::{
    element_name, BindingId, Expr, ExprKind, FnId, Index, LoopVarId, SlotKind, Stmt,
};
use crate::shape::Shape;

/// The default loop threshold: a top-level `for` whose unrolled size (iterations ×
/// the nodes of one iteration, a tensor node counting its elements) is at least this
/// is emitted as a Rust loop. Seed 001's three iterations of a 3-state map (about 60)
/// stay unrolled; the 16-wide recurrent map of issue 20 (one iteration: about 750)
/// is a loop from length 15 on (`expand` on it prints "a Rust loop"). `#[symnn(loop_threshold = N)]` moves it: 0 makes every loop that can be
/// a loop one, a huge number unrolls everything.
pub const LOOP_THRESHOLD: u64 = 10_000;

/// A `for` emitted as a Rust loop.
#[derive(Debug)]
pub struct Rolled {
    /// The loop variable's name (`None` for `_`).
    pub var_name: Option<String>,
    /// The first value of the loop variable.
    pub start: i64,
    /// The number of iterations.
    pub count: u64,
    /// One iteration, from [`Node::Var`] leaves (see the module docs for their layout).
    pub body: Graph,
    /// The state's bindings: display name and shape, in layout order.
    pub state: Vec<(String, Shape)>,
    /// Elements of the state (`S`).
    pub state_len: usize,
    /// Elements of the captured values (`C`), after the state.
    pub captured_len: usize,
    /// The captured bindings' display names and shapes.
    pub captured: Vec<(String, Shape)>,
    /// The per-iteration reads, after the captured values.
    pub reads: Vec<Read>,
    /// Elements of all reads (`R`).
    pub reads_len: usize,
    /// The next state: `S` nodes of `body`.
    pub next_state: Vec<NodeId>,
    /// Named values of one iteration, for the derivation.
    pub body_names: Vec<(String, NodeId)>,
    /// What each body `Var` stands for, for the derivation (`z[3]`, `x[k]`, ...).
    pub body_var_names: Vec<String>,
    /// In the program's graph: the initial state then the captured values (`S + C`
    /// nodes).
    pub args: Vec<NodeId>,
    /// The first program `Var` of the loop's results (`S` of them).
    pub results: u32,
    /// The first program `Var` of the arguments' seeds (`S + C` of them, filled by
    /// the reverse loop).
    pub seeds: u32,
}

impl Rolled {
    /// The first body `Var` of the seeds (the adjoint of the next state).
    pub fn seed_base(&self) -> usize {
        self.state_len + self.captured_len + self.reads_len
    }

    /// Elements of the body's `Var` array.
    pub fn var_len(&self) -> usize {
        self.seed_base() + self.state_len
    }
}

/// One per-iteration read: `len` consecutive elements of an array, at an offset that
/// depends on the loop variable, or the loop variable's value.
#[derive(Clone, Debug, PartialEq)]
pub struct Read {
    /// Where from.
    pub source: ReadSource,
    /// The first body `Var` it fills.
    pub var: usize,
    /// Number of elements.
    pub len: usize,
}

/// What a [`Read`] reads.
#[derive(Clone, Debug, PartialEq)]
pub enum ReadSource {
    /// Elements of `input`, `target` or `params` from
    /// `base + Σ index_i(k) · stride_i`, where each index is a formula in the loop
    /// variable only (enclosing unrolled loops' variables are substituted).
    Slot {
        /// The array.
        kind: SlotKind,
        /// The declaration's first element.
        base: usize,
        /// `(index, stride)` pairs.
        terms: Vec<(Index, usize)>,
    },
    /// The loop variable, as a number.
    LoopValue,
}

/// The state of lowering one rolled body.
#[derive(Debug)]
pub(super) struct RollContext {
    var: LoopVarId,
    reads: Vec<Read>,
    next_var: usize,
    var_names: Vec<String>,
}

impl Lowering<'_> {
    /// Lowers a top-level `for` as a rolled loop if it can be one and is big enough;
    /// `false` to unroll it.
    pub(super) fn try_roll(
        &mut self,
        var: Option<LoopVarId>,
        start: i64,
        count: u64,
        body: &[Stmt],
    ) -> bool {
        if !self.may_roll || self.roll.is_some() || count == 0 {
            return false;
        }
        let program = self.program;
        let fn_body = |f: FnId| Some(&program.fns[f.0 as usize].body);
        let Some(usage) = crate::loops::usage(body, var, Some(program.output), &fn_body) else {
            return false;
        };
        let (state, captured) = (usage.state(), usage.captured());
        if state.is_empty() {
            return false;
        }
        // One iteration, lowered in its own graph.
        let mut sub = Lowering {
            program,
            graph: Graph::new(),
            inputs: vec![None; program.inputs.len()],
            targets: vec![None; program.targets.len()],
            params: vec![None; program.params.len()],
            bindings: vec![None; program.bindings.len()],
            loop_values: self.loop_values.clone(),
            args: Vec::new(),
            next_placeholder: self.next_placeholder,
            has_diff: false,
            names: Vec::new(),
            versions: std::collections::HashMap::new(),
            output: None,
            loss: None,
            threshold: self.threshold,
            matrix_view: false,
            scalar_code: false,
            matrix_view_differs: false,
            may_roll: false,
            roll: Some(RollContext {
                var: var.unwrap_or(LoopVarId(u32::MAX)),
                reads: Vec::new(),
                next_var: 0,
                var_names: Vec::new(),
            }),
            rolled: Vec::new(),
            var_names: Vec::new(),
        };
        let loop_name = var.map(|v| program.loop_var_names[v.0 as usize].clone());
        // The state then the captured values, as `Var`s of the body (shapes are the
        // bindings' declared ones: nothing of the program's graph is touched until
        // the loop is known to roll).
        let mut describe = |list: &[BindingId], suffix: &str| {
            let mut described = Vec::new();
            for &b in list {
                let binding = &program.bindings[binding_index(b)];
                let shape = binding.shape;
                let roll = sub.roll.as_mut().expect("a rolled body");
                let first = roll.next_var;
                roll.next_var += shape.len();
                for i in 0..shape.len() {
                    roll.var_names.push(element_name(
                        &format!("{}{suffix}", binding.name),
                        shape,
                        i,
                    ));
                }
                let elems: Vec<NodeId> = (first..first + shape.len())
                    .map(|k| sub.graph.insert(Node::Var(var_index(k))))
                    .collect();
                // (Named whole, for the derivation, where a product reads it as a
                // tensor: the same packed node the lowering makes.)
                if shape.len() > 1 {
                    let packed = sub.graph.pack(shape, elems.clone());
                    sub.names
                        .push((format!("{}{suffix}", binding.name), packed));
                }
                sub.bindings[binding_index(b)] = Some(Value::Scalars(Tensor { shape, elems }));
                described.push((binding.name.clone(), shape));
            }
            described
        };
        let state_shapes = describe(&state, "ₖ₋₁");
        let captured_shapes = describe(&captured, "");
        let state_len: usize = state_shapes.iter().map(|(_, s)| s.len()).sum();
        let captured_len: usize = captured_shapes.iter().map(|(_, s)| s.len()).sum();
        sub.block(body);
        let next_state: Vec<NodeId> = state
            .iter()
            .flat_map(|&b| {
                let value = sub.binding(b);
                sub.scalars(value).elems
            })
            .collect();
        let size: u64 = sub
            .graph
            .iter()
            .map(|(id, _)| sub.graph.shape_of(id).len() as u64)
            .sum();
        let float_bytes = match program.float {
            crate::resolved::FloatType::F32 => 4,
            crate::resolved::FloatType::F64 => 8,
        };
        if count.saturating_mul(size) < self.program.loop_threshold
            || crate::loops::storage(count, state_len, float_bytes).is_none()
        {
            return false;
        }
        let mut args = Vec::with_capacity(state_len + captured_len);
        for &b in state.iter().chain(&captured) {
            let value = self.binding(b);
            args.extend(self.scalars(value).elems);
        }
        let roll = sub.roll.take().expect("a rolled body");
        let reads_len = roll.next_var - state_len - captured_len;
        let mut body_var_names = roll.var_names;
        body_var_names.extend(
            state_shapes
                .iter()
                .flat_map(|(name, shape)| {
                    (0..shape.len()).map(move |i| element_name(&format!("δ{name}ₖ"), *shape, i))
                })
                .collect::<Vec<_>>(),
        );
        // The results, as program `Var`s, replace the state bindings.
        let results = self.var_names.len();
        for (&b, (name, shape)) in state.iter().zip(&state_shapes) {
            let versioned = self.version(name);
            let elems = (0..shape.len())
                .map(|i| {
                    let k = self.var_names.len();
                    self.var_names.push(element_name(&versioned, *shape, i));
                    self.graph.insert(Node::Var(var_index(k)))
                })
                .collect();
            self.bindings[binding_index(b)] = Some(Value::Scalars(Tensor {
                shape: *shape,
                elems,
            }));
        }
        let seeds = self.var_names.len();
        // (The adjoints of the loop's initial state and captured values, which the
        // reverse loop leaves.)
        for (name, shape) in state_shapes.iter().chain(&captured_shapes) {
            for i in 0..shape.len() {
                self.var_names
                    .push(element_name(&format!("δ{name}"), *shape, i));
            }
        }
        self.rolled.push(Rolled {
            var_name: loop_name,
            start,
            count,
            body: sub.graph,
            state: state_shapes,
            state_len,
            captured_len,
            captured: captured_shapes,
            reads: roll.reads,
            reads_len,
            next_state,
            body_names: sub.names,
            body_var_names,
            args,
            results: var_index(results),
            seeds: var_index(seeds),
        });
        true
    }

    /// In a rolled body, an indexing of a declaration at an index that depends on the
    /// loop variable: a per-iteration read. `None` for everything else.
    pub(super) fn rolled_read(&mut self, e: &Expr) -> Option<Value> {
        let roll = self.roll.as_ref()?;
        let var = roll.var;
        let mut chain = Vec::new();
        let mut base = e;
        while let ExprKind::Index(inner, index) = &base.kind {
            chain.push(index);
            base = inner;
        }
        chain.reverse();
        if !chain.iter().any(|i| mentions(i, var)) {
            return None;
        }
        let ExprKind::Slot(slot) = base.kind else {
            unreachable!("`loops::usage` unrolls a loop reading a binding at a loop index")
        };
        let program = self.program;
        let declared = match slot.kind {
            SlotKind::Input => &program.inputs[slot.index],
            SlotKind::Target => &program.targets[slot.index],
            SlotKind::Param => &program.params[slot.index],
        };
        let mut shape = declared.shape;
        let mut terms = Vec::new();
        let mut label = declared.name.clone();
        let loop_name = program.loop_var_names.get(var.0 as usize);
        for index in chain {
            let Some((_, row)) = shape.index() else { break };
            let fixed = substitute(index, var, &self.loop_values);
            label.push_str(&format!("[{}]", index_text(&fixed, var, loop_name)));
            terms.push((fixed, row.len()));
            shape = row;
        }
        let source = ReadSource::Slot {
            kind: slot.kind,
            base: declared.offset,
            terms,
        };
        Some(self.read_vars(source, e.shape, &label).into())
    }

    /// In a rolled body, the loop variable as a number.
    pub(super) fn rolled_loop_value(&mut self, var: LoopVarId) -> Option<Value> {
        let roll = self.roll.as_ref()?;
        if roll.var != var {
            return None;
        }
        let name = self.program.loop_var_names[var.0 as usize].clone();
        Some(
            self.read_vars(ReadSource::LoopValue, Shape::Scalar, &name)
                .into(),
        )
    }

    /// The `Var`s of a read, shared by equal reads.
    fn read_vars(&mut self, source: ReadSource, shape: Shape, label: &str) -> Tensor {
        let roll = self.roll.as_mut().expect("a rolled body");
        let len = shape.len();
        let var = match roll.reads.iter().find(|r| r.source == source) {
            Some(read) => read.var,
            None => {
                let var = roll.next_var;
                roll.next_var += len;
                for i in 0..len {
                    roll.var_names.push(element_name(label, shape, i));
                }
                roll.reads.push(Read { source, var, len });
                var
            }
        };
        let elems = (var..var + len)
            .map(|k| self.graph.insert(Node::Var(var_index(k))))
            .collect();
        Tensor { shape, elems }
    }
}

fn var_index(k: usize) -> u32 {
    u32::try_from(k).expect("fewer than 2^32 loop values")
}

/// `index` with every loop variable but `keep` replaced by its current value.
fn substitute(index: &Index, keep: LoopVarId, values: &[i64]) -> Index {
    match index {
        Index::Var(v) if *v != keep => Index::Const(values[v.0 as usize]),
        Index::Const(_) | Index::Var(_) => index.clone(),
        Index::Neg(a) => Index::Neg(Box::new(substitute(a, keep, values))),
        Index::Binary(op, a, b) => Index::Binary(
            *op,
            Box::new(substitute(a, keep, values)),
            Box::new(substitute(b, keep, values)),
        ),
    }
}

/// An index formula as the derivation prints it (`k + 1`).
fn index_text(index: &Index, var: LoopVarId, name: Option<&String>) -> String {
    match index {
        Index::Const(c) => c.to_string(),
        Index::Var(v) if *v == var => name.cloned().unwrap_or_else(|| "k".into()),
        Index::Var(_) => "?".into(),
        Index::Neg(a) => format!("-{}", index_text(a, var, name)),
        Index::Binary(op, a, b) => {
            let op = match op {
                crate::ast::BinOp::Add => "+",
                crate::ast::BinOp::Sub => "-",
                crate::ast::BinOp::Mul | crate::ast::BinOp::Div => "*",
            };
            format!(
                "{} {op} {}",
                index_text(a, var, name),
                index_text(b, var, name)
            )
        }
    }
}
