//! The bodies of `sgd_step` and `accumulate_gradient`: which [`StepForm`] they take,
//! and the two rewrites of a fused body, [`interleave`] and [`scale_by_lr`], as pure
//! functions on instruction lists.

use std::collections::{HashMap, HashSet};

use super::build::{Body, ParamAccess, LET_LIMIT};
use super::fuse::fuse;
use super::ir::{GroupValue, GroupWrite, Instr, Method, Op, Operand, Returns, Temp, WriteMode};
use crate::graph::{Graph, Node, NodeId};
use crate::tensor::TensorOp;

/// The gradient of a parameter group read as a whole tensor, as the writes need it.
#[derive(Clone, Copy, Debug)]
pub struct GroupGrad {
    /// The group's first parameter.
    pub offset: usize,
    /// Rows (the outer product's left factor's length; 1 for a whole array).
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// The adjoint.
    pub source: GroupSource,
}

/// Where a group's gradient comes from.
#[derive(Clone, Copy, Debug)]
pub enum GroupSource {
    /// `a·bᵀ` of two vectors (a weight: `δ·xᵀ`), never materialised.
    Outer(NodeId, NodeId),
    /// A tensor node of the group's size.
    Whole(NodeId),
}

impl GroupGrad {
    /// The group gradient of `adjoint` for a group at `offset` of `len` elements.
    pub fn new(g: &Graph, offset: usize, len: usize, adjoint: NodeId) -> GroupGrad {
        if let Some(TensorOp::MatMul {
            a,
            b,
            ta: false,
            tb: true,
        }) = g.tensor_node(adjoint).map(|t| &t.op)
        {
            let (ra, rb) = (g.shape_of(*a), g.shape_of(*b));
            if matches!(ra, crate::shape::Shape::Vector(_))
                && matches!(rb, crate::shape::Shape::Vector(_))
            {
                return GroupGrad {
                    offset,
                    rows: ra.len(),
                    cols: rb.len(),
                    source: GroupSource::Outer(*a, *b),
                };
            }
        }
        GroupGrad {
            offset,
            rows: 1,
            cols: len,
            source: GroupSource::Whole(adjoint),
        }
    }

    /// The group gradient of `adjoint` as a list of writes: a sum (a map `a + b + …`,
    /// which a weight read twice gets, as when one `fn` is called at two points)
    /// splits into its terms, so each outer product stays an outer-product update
    /// (a GEMM in a batch block) instead of being materialised and added.
    pub fn terms(g: &Graph, offset: usize, len: usize, adjoint: NodeId) -> Vec<GroupGrad> {
        sum_terms(g, adjoint)
            .into_iter()
            .map(|term| GroupGrad::new(g, offset, len, term))
            .collect()
    }

    /// The nodes a body must compute for the write.
    pub fn roots(&self) -> Vec<NodeId> {
        match self.source {
            GroupSource::Outer(a, b) => vec![a, b],
            GroupSource::Whole(t) => vec![t],
        }
    }

    /// The write, with arrays as `body` names them.
    pub fn write(&self, body: &Body<'_>, mode: WriteMode) -> Instr {
        let value = match self.source {
            GroupSource::Outer(a, b) => GroupValue::Outer(body.array(a), body.array(b)),
            GroupSource::Whole(t) => GroupValue::Array(body.array(t)),
        };
        Instr::WriteGroup(GroupWrite {
            offset: self.offset,
            rows: self.rows,
            cols: self.cols,
            value,
            mode,
        })
    }
}

/// The terms of `id` if it is a sum of same-shaped tensors (a map whose kernel adds
/// each lane once), recursively; else `[id]`.
fn sum_terms(g: &Graph, id: NodeId) -> Vec<NodeId> {
    if let Some(TensorOp::Map { kernel, args }) = g.tensor_node(id).map(|t| &t.op) {
        let shape = g.shape_of(id);
        let same = args
            .iter()
            .all(|&a| g.is_tensor(a) && g.shape_of(a) == shape);
        if same && is_lane_sum(g, *kernel, args.len()) {
            return args.iter().flat_map(|&a| sum_terms(g, a)).collect();
        }
    }
    vec![id]
}

/// Whether `kernel` is `lane 0 + lane 1 + … + lane n-1`, each lane once.
fn is_lane_sum(g: &Graph, kernel: NodeId, n: usize) -> bool {
    let mut seen = vec![false; n];
    let mut stack = vec![kernel];
    while let Some(id) = stack.pop() {
        match g.node(id) {
            Node::Add(a, b) => stack.extend([a, b]),
            Node::Lane(j) if (j as usize) < n && !seen[j as usize] => seen[j as usize] = true,
            _ => return false,
        }
    }
    n >= 2 && seen.iter().all(|&s| s)
}

/// Above this many scheduled gradient instructions, `sgd_step` and
/// `accumulate_gradient` call the one out-of-line `gradient` instead of repeating its
/// body: fusing stops paying for big nets, and three copies of a huge body triple
/// compile time. (Equal to [`LET_LIMIT`], so a fused body never is in array mode.)
pub const FUSE_LIMIT: usize = LET_LIMIT;

/// The method whose body is being built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepMethod {
    /// `sgd_step`: writes `self.params`.
    SgdStep,
    /// `accumulate_gradient`: writes `grad`.
    AccumulateGradient,
}

/// The shape of a `sgd_step` or `accumulate_gradient` body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepForm {
    /// The gradient's instructions with each write placed right after the instruction
    /// completing its value (so the value dies early instead of spilling) and, for
    /// `sgd_step`, after the last read of the parameter's old value. The normal case.
    Interleaved,
    /// The gradient's instructions, then every write: for a gradient (or, in `sgd_step`,
    /// the loss) that is a bare parameter, read after the writes, where interleaving
    /// has no instruction to place the write after.
    GradientsThenWrites,
    /// A call to `gradient` and one loop: above [`FUSE_LIMIT`] (bounds compile time).
    ViaGradientCall,
}

/// The form of `method`'s body, given the gradient body's size, the loss and the
/// gradients (as operands of the gradient body).
pub fn choose(
    method: StepMethod,
    instructions: usize,
    loss: Operand,
    grads: &[Operand],
    tensor: bool,
    groups: &[Instr],
) -> StepForm {
    // (A loss that is a bare parameter would be read after its own update.)
    let bare_param_read_late =
        grads.iter().any(|g| g.is_param()) || (method == StepMethod::SgdStep && loss.is_param());
    // A group gradient reading parameters in place (`dL/dW = δ·vᵀ` with `v` a
    // parameter) cannot be written while the parameters are borrowed mutably.
    let groups_read_params = groups
        .iter()
        .any(|w| matches!(w, Instr::WriteGroup(w) if w.reads_params()));
    if method == StepMethod::SgdStep && groups_read_params {
        StepForm::ViaGradientCall
    } else if instructions > FUSE_LIMIT && !tensor {
        // (A tensor program's `gradient` calls `accumulate_gradient`, so that one
        // never calls back.)
        StepForm::ViaGradientCall
    } else if bare_param_read_late {
        StepForm::GradientsThenWrites
    } else {
        StepForm::Interleaved
    }
}

/// The body of `sgd_step`: every parameter moves by `-lr * dL/dparams[k]` evaluated at
/// the old parameters. `gradient` computes the loss and `grads` (`dL/dparams`).
pub fn sgd_step(
    form: StepForm,
    graph: &Graph,
    gradient: &Body<'_>,
    loss: NodeId,
    grads: &[NodeId],
    groups: &[GroupGrad],
) -> Method {
    match form {
        StepForm::Interleaved => {
            // Parameters read as `self.params[k]`: the body writes them as it goes.
            let roots: Vec<NodeId> = std::iter::once(loss)
                .chain(grads.iter().copied())
                .chain(groups.iter().flat_map(GroupGrad::roots))
                .collect();
            let body = Body::new(graph, &roots, ParamAccess::ViaSelf);
            let mut writes: Vec<Instr> = nonzero(&body, grads)
                .map(|(param, grad)| Instr::Update { param, grad })
                .collect();
            writes.extend(groups.iter().map(|grp| grp.write(&body, WriteMode::Sgd)));
            let returns = Returns::Value(body.operand(loss));
            Method::new(fuse(scale_by_lr(interleave(body.instrs, writes))), returns)
        }
        StepForm::GradientsThenWrites => {
            let mut instrs = gradient.instrs.clone();
            instrs.push(Instr::Let {
                dst: Temp::Loss,
                op: Op::Copy(gradient.operand(loss)),
            });
            let (params, values): (Vec<usize>, Vec<Operand>) = nonzero(gradient, grads).unzip();
            instrs.push(Instr::SaveGradients { values });
            instrs.extend(params.into_iter().zip(0..).map(|(param, i)| Instr::Update {
                param,
                grad: Operand::Temp(Temp::Gradient(i)),
            }));
            // (Group writes read no parameter here: `choose` sends those to
            // `ViaGradientCall`.)
            instrs.extend(groups.iter().map(|grp| grp.write(gradient, WriteMode::Sgd)));
            Method::new(fuse(instrs), Returns::Value(Operand::Temp(Temp::Loss)))
        }
        StepForm::ViaGradientCall => Method::new(
            vec![Instr::CallGradient, Instr::UpdateAll],
            Returns::Value(Operand::Temp(Temp::Loss)),
        ),
    }
}

/// The body of `accumulate_gradient`: `grad += dL/dparams`, returning the loss.
pub fn accumulate_gradient(
    form: StepForm,
    gradient: &Body<'_>,
    loss: NodeId,
    grads: &[NodeId],
    groups: &[GroupGrad],
) -> Method {
    let adds = || {
        nonzero(gradient, grads)
            .map(|(param, value)| Instr::AddGrad { param, value })
            .chain(
                groups
                    .iter()
                    .map(|grp| grp.write(gradient, WriteMode::Accumulate)),
            )
            .collect::<Vec<_>>()
    };
    match form {
        StepForm::Interleaved => Method::new(
            fuse(interleave(gradient.instrs.clone(), adds())),
            Returns::Value(gradient.operand(loss)),
        ),
        StepForm::GradientsThenWrites => {
            let mut instrs = gradient.instrs.clone();
            instrs.extend(adds());
            Method::new(fuse(instrs), Returns::Value(gradient.operand(loss)))
        }
        StepForm::ViaGradientCall => Method::new(
            vec![Instr::CallGradient, Instr::AddGradAll],
            Returns::Value(Operand::Temp(Temp::Loss)),
        ),
    }
}

/// `(k, dL/dparams[k])` for the gradients that are not the constant 0 (no write).
fn nonzero<'a>(
    body: &'a Body<'_>,
    grads: &'a [NodeId],
) -> impl Iterator<Item = (usize, Operand)> + 'a {
    grads
        .iter()
        .map(|&id| body.operand(id))
        .enumerate()
        .filter(|(_, grad)| grad.as_const() != Some(0.0))
}

/// `body` with each of `writes` inserted right after the last instruction it depends
/// on: the one defining a temporary it reads and, for a parameter write, the last one
/// reading that parameter (whose old value a simultaneous update must leave visible).
/// Writes depending on nothing go first; writes placed at the same point keep their
/// order.
pub fn interleave(body: Vec<Instr>, writes: Vec<Instr>) -> Vec<Instr> {
    let mut defined_at: HashMap<Temp, usize> = HashMap::new();
    // `last_read[k]`: the last instruction reading parameter `k` (scalar reads and
    // the ranges tensor loops read in place).
    let mut last_read: Vec<Option<usize>> = Vec::new();
    let mut read = |k: usize, i: usize| {
        if last_read.len() <= k {
            last_read.resize(k + 1, None);
        }
        last_read[k] = Some(i);
    };
    for (i, instr) in body.iter().enumerate() {
        for dst in instr.defines_all() {
            defined_at.insert(dst, i);
        }
        for k in instr.reads().into_iter().filter_map(Operand::param) {
            read(k, i);
        }
        for (start, end) in instr.param_reads() {
            for k in start..end {
                read(k, i);
            }
        }
    }
    let last_read_in = |(start, end): (usize, usize)| {
        last_read
            .get(start..end.min(last_read.len()))
            .into_iter()
            .flatten()
            .flatten()
            .copied()
            .max()
    };
    // `after[i]`: the writes to place after `body[i - 1]`; `after[0]` goes first.
    let mut after: Vec<Vec<Instr>> = vec![Vec::new(); body.len() + 1];
    for write in writes {
        let dependencies = write
            .reads()
            .into_iter()
            .filter_map(|operand| match operand {
                Operand::Temp(t) => defined_at.get(&t).copied(),
                _ => None,
            })
            .chain(write.param_write_range().and_then(last_read_in));
        let at = dependencies.map(|i| i + 1).max().unwrap_or(0);
        after[at].push(write);
    }
    let mut out = Vec::with_capacity(after.iter().map(Vec::len).sum::<usize>() + body.len());
    let mut after = after.into_iter();
    out.extend(after.next().into_iter().flatten());
    for (instr, writes) in body.into_iter().zip(after) {
        out.push(instr);
        out.extend(writes);
    }
    out
}

/// Writes the SGD updates `p_k -= lr * g_k` the way a person would: when `g_k = d * x`
/// (a weight: the adjoint `d` of its neuron times an input), as `p_k -= (lr*d) * x`
/// with `lr*d` computed once per neuron and shared with the bias update `p_b -= lr*d`
/// (`g_b = d`). That saves one multiply per weight.
///
/// Every [`Instr::Update`] whose gradient is a computed value becomes an
/// [`Instr::UpdateByStep`], preceded by the `Let` of its [`Temp::Step`] where that
/// `lr * ...` is first needed; updates by a leaf gradient stay. Pure: the other
/// instructions and the order are unchanged.
pub fn scale_by_lr(instrs: Vec<Instr>) -> Vec<Instr> {
    let products: HashMap<Temp, (Operand, Operand)> = instrs
        .iter()
        .filter_map(|instr| match instr {
            Instr::Let {
                dst,
                op: Op::Mul(a, b),
            } => Some((*dst, (*a, *b))),
            _ => None,
        })
        .collect();
    let product = |operand: Operand| match operand {
        Operand::Temp(t) => products.get(&t).copied(),
        _ => None,
    };
    // The gradients written (a neuron's adjoint is its bias's gradient) ...
    let grads: HashSet<Operand> = instrs
        .iter()
        .filter_map(|instr| match instr {
            Instr::Update { grad, .. } => Some(*grad),
            _ => None,
        })
        .collect();
    // ... and those that are also a factor of another gradient (biases of weight rows).
    let shared_factors: HashSet<Operand> = grads
        .iter()
        .filter_map(|&g| product(g))
        .filter_map(|(a, b)| [a, b].into_iter().find(|f| grads.contains(f)))
        .collect();

    let mut steps: HashMap<Operand, Temp> = HashMap::new();
    let mut out = Vec::with_capacity(instrs.len() * 2);
    for instr in instrs {
        let Instr::Update { param, grad } = instr else {
            out.push(instr);
            continue;
        };
        // `(x, factor)` with `grad = x * factor` and `lr * x` worth sharing.
        let factored = match product(grad) {
            _ if shared_factors.contains(&grad) => Some((grad, None)),
            // (Not when a factor is a parameter: the write would read it at write time,
            // possibly after its own update; the product read it in its place, which
            // the write placement accounts for.)
            Some((a, b)) if (a.is_temp() || b.is_temp()) && !a.is_param() && !b.is_param() => {
                // Scale the factor that is itself a gradient (the neuron's adjoint) if
                // there is one, else the computed one.
                let (scaled, factor) = if grads.contains(&a) || !b.is_temp() {
                    (a, b)
                } else {
                    (b, a)
                };
                Some((scaled, Some(factor)))
            }
            _ if grad.is_temp() => Some((grad, None)),
            _ => None,
        };
        let Some((scaled, factor)) = factored else {
            out.push(Instr::Update { param, grad });
            continue;
        };
        let next = u32::try_from(steps.len()).expect("fewer than 2^32 steps");
        let step = *steps.entry(scaled).or_insert_with(|| {
            out.push(Instr::Let {
                dst: Temp::Step(next),
                op: Op::Mul(Operand::Lr, scaled),
            });
            Temp::Step(next)
        });
        out.push(Instr::UpdateByStep {
            param,
            step,
            factor,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u32) -> Operand {
        Operand::Temp(Temp::Node(n))
    }

    fn define(n: u32, op: Op) -> Instr {
        Instr::Let {
            dst: Temp::Node(n),
            op,
        }
    }

    #[test]
    fn a_write_follows_its_value_and_the_last_read_of_its_parameter() {
        let body = vec![
            define(0, Op::Mul(Operand::ParamViaSelf(0), Operand::Input(0))),
            define(1, Op::Neg(t(0))),
            define(2, Op::Mul(Operand::ParamViaSelf(0), t(1))),
        ];
        let write = |param, grad| Instr::Update { param, grad };
        let out = interleave(
            body.clone(),
            vec![
                write(0, t(1)),
                write(1, t(1)),
                write(2, Operand::Const(2.0)),
            ],
        );
        // params[0]'s gradient is ready after t1, but t2 still reads params[0].
        assert_eq!(
            out,
            vec![
                write(2, Operand::Const(2.0)),
                body[0].clone(),
                body[1].clone(),
                write(1, t(1)),
                body[2].clone(),
                write(0, t(1)),
            ]
        );
    }

    #[test]
    fn gradient_additions_wait_only_for_their_value() {
        let body = vec![
            define(0, Op::Mul(Operand::Param(0), Operand::Input(0))),
            define(1, Op::Mul(Operand::Param(0), t(0))),
        ];
        let add = Instr::AddGrad {
            param: 0,
            value: t(0),
        };
        let out = interleave(body.clone(), vec![add.clone()]);
        assert_eq!(out, vec![body[0].clone(), add, body[1].clone()]);
    }

    #[test]
    fn lr_times_the_adjoint_is_shared_by_bias_and_weights() {
        // t0 = d (the neuron's adjoint, the bias's gradient); t1 = d * x0; t2 = x1 * d.
        let lets = vec![
            define(0, Op::Sub(Operand::Input(0), Operand::Target(0))),
            define(1, Op::Mul(t(0), Operand::Input(0))),
            define(2, Op::Mul(Operand::Input(1), t(0))),
        ];
        let mut instrs = lets.clone();
        instrs.extend((0..3).map(|k| Instr::Update {
            param: k,
            grad: t(k as u32),
        }));
        let step = Temp::Step(0);
        let by = |param, factor| Instr::UpdateByStep {
            param,
            step,
            factor,
        };
        let mut expected = lets;
        expected.extend([
            Instr::Let {
                dst: step,
                op: Op::Mul(Operand::Lr, t(0)),
            },
            by(0, None),
            by(1, Some(Operand::Input(0))),
            by(2, Some(Operand::Input(1))),
        ]);
        assert_eq!(scale_by_lr(instrs), expected);
    }

    #[test]
    fn leaf_gradients_and_parameter_factors_are_not_rescaled() {
        let lets = vec![
            define(0, Op::Neg(Operand::Input(0))),
            define(1, Op::Mul(t(0), Operand::ParamViaSelf(2))),
        ];
        let mut instrs = lets.clone();
        let updates = [
            Instr::Update {
                param: 0,
                grad: Operand::Const(1.0),
            },
            Instr::Update {
                param: 1,
                grad: Operand::Input(0),
            },
        ];
        instrs.extend(updates.iter().cloned());
        instrs.push(Instr::Update {
            param: 2,
            grad: t(1),
        });
        let mut expected = lets;
        expected.extend(updates);
        // `t1 = t0 * params[2]` is scaled whole: `lr * t1`, not `(lr * t0) * params[2]`.
        expected.extend([
            Instr::Let {
                dst: Temp::Step(0),
                op: Op::Mul(Operand::Lr, t(1)),
            },
            Instr::UpdateByStep {
                param: 2,
                step: Temp::Step(0),
                factor: None,
            },
        ]);
        assert_eq!(scale_by_lr(instrs), expected);
    }

    #[test]
    fn the_form_follows_size_and_bare_parameters() {
        use StepForm::*;
        use StepMethod::*;
        let (p, x) = (Operand::Param(0), t(7));
        assert_eq!(choose(SgdStep, 10, x, &[x], false, &[]), Interleaved);
        assert_eq!(
            choose(SgdStep, 10, p, &[x], false, &[]),
            GradientsThenWrites
        );
        assert_eq!(
            choose(AccumulateGradient, 10, p, &[x], false, &[]),
            Interleaved
        );
        assert_eq!(
            choose(AccumulateGradient, 10, x, &[x, p], false, &[]),
            GradientsThenWrites
        );
        assert_eq!(
            choose(SgdStep, FUSE_LIMIT, x, &[p], false, &[]),
            GradientsThenWrites
        );
        assert_eq!(
            choose(SgdStep, FUSE_LIMIT + 1, x, &[x], false, &[]),
            ViaGradientCall
        );
        assert_eq!(
            choose(AccumulateGradient, FUSE_LIMIT + 1, p, &[p], false, &[]),
            ViaGradientCall
        );
    }
}
