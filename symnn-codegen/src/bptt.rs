//! Stage 4b, differentiate rolled loops: backpropagation through time, written once
//! symbolically from one iteration ([`crate::lower::Rolled`]).
//!
//! For one iteration `s' = f(s, c, r; θ)` (state, captured values, per-iteration
//! reads, parameters), the reverse loop needs the vector–Jacobian product with the
//! seed `δs'` (the adjoint of the next state, a `Var` of the body):
//! `δs = (∂f/∂s)ᵀ δs'`, `δc += (∂f/∂c)ᵀ δs'`, `δr = (∂f/∂r)ᵀ δs'` and
//! `δθ += (∂f/∂θ)ᵀ δs'`. That is the gradient of the scalar `Σⱼ δs'ⱼ · s'ⱼ`, built by the
//! ordinary reverse mode ([`crate::diff`]) in the body's graph, so it is simplified
//! and shares the iteration's forward nodes like any gradient.
//!
//! Around the loops, the program's gradient is that of
//! `L + Σ_loops Σⱼ seedⱼ · argⱼ`, where `argⱼ` are a loop's initial state and captured
//! values and `seedⱼ` the adjoints the reverse loop leaves for them (program `Var`s):
//! its parameter part is the code after the reverse loops, and its derivative with
//! respect to a loop's results is the seed the reverse loop starts from.

use crate::diff::{self, LossGradient};
use crate::graph::{Node, NodeId};
use crate::lower::Lowered;

/// The reverse pass of one rolled loop's iteration (nodes of its body graph).
#[derive(Debug)]
pub struct StepVjp {
    /// `Σⱼ seedⱼ · next_stateⱼ`, whose gradient this is.
    pub product: NodeId,
    /// Its gradient with respect to the parameters.
    pub params: LossGradient,
    /// Its gradient with respect to the state, captured values and reads
    /// (`S + C + R` nodes, in `Var` order).
    pub vars: Vec<NodeId>,
}

/// The derivative of a program with rolled loops.
#[derive(Debug)]
pub struct RolledGradient {
    /// One per rolled loop.
    pub steps: Vec<StepVjp>,
    /// `L + Σ seed · arg`: the program's parameter gradient is this node's.
    pub total: NodeId,
    /// Per rolled loop, `∂total/∂result` for each element of its results: the seed
    /// of its reverse loop.
    pub result_adjoints: Vec<Vec<NodeId>>,
}

/// Differentiates every rolled loop's iteration and sets up the program's gradient
/// around them. `None` when the program has no rolled loop.
pub fn differentiate(program: &mut Lowered) -> Option<RolledGradient> {
    if program.rolled.is_empty() {
        return None;
    }
    let mut steps = Vec::with_capacity(program.rolled.len());
    for rolled in &mut program.rolled {
        let g = &mut rolled.body;
        let seed_base = rolled.state_len + rolled.captured_len + rolled.reads_len;
        let terms: Vec<NodeId> = rolled
            .next_state
            .iter()
            .enumerate()
            .map(|(j, &next)| {
                let seed = g.insert(Node::Var(index(seed_base + j)));
                g.mul(seed, next)
            })
            .collect();
        let product = g.sum(terms);
        // (Each vector state's seed named whole, for the derivation.)
        let mut first = seed_base;
        for (name, shape) in &rolled.state {
            if shape.len() > 1 {
                let seeds = (first..first + shape.len())
                    .map(|k| g.insert(Node::Var(index(k))))
                    .collect();
                let packed = g.pack(*shape, seeds);
                rolled.body_names.push((format!("δ{name}ₖ"), packed));
            }
            first += shape.len();
        }
        let params = diff::loss_gradient(g, product, &program.params);
        let leaves: Vec<Option<NodeId>> = (0..seed_base)
            .map(|k| g.find(Node::Var(index(k))))
            .collect();
        let present: Vec<NodeId> = leaves.iter().flatten().copied().collect();
        let adjoints = diff::wrt_leaves(g, product, &present);
        let zero = g.constant(0.0);
        let mut found = adjoints.into_iter();
        let vars = leaves
            .iter()
            .map(|leaf| match leaf {
                Some(_) => found.next().expect("one adjoint per leaf"),
                None => zero,
            })
            .collect();
        steps.push(StepVjp {
            product,
            params,
            vars,
        });
    }
    let g = &mut program.graph;
    let mut terms = vec![program.loss];
    for rolled in &program.rolled {
        for (j, &arg) in rolled.args.iter().enumerate() {
            let seed = g.insert(Node::Var(rolled.seeds + index(j)));
            terms.push(g.mul(seed, arg));
        }
    }
    let total = g.sum(terms);
    let result_adjoints = program
        .rolled
        .iter()
        .map(|rolled| {
            let leaves: Vec<Option<NodeId>> = (0..rolled.state_len)
                .map(|j| g.find(Node::Var(rolled.results + index(j))))
                .collect();
            let present: Vec<NodeId> = leaves.iter().flatten().copied().collect();
            let adjoints = diff::wrt_leaves(g, total, &present);
            let zero = g.constant(0.0);
            let mut found = adjoints.into_iter();
            leaves
                .iter()
                .map(|leaf| match leaf {
                    Some(_) => found.next().expect("one adjoint per leaf"),
                    None => zero,
                })
                .collect()
        })
        .collect();
    Some(RolledGradient {
        steps,
        total,
        result_adjoints,
    })
}

fn index(k: usize) -> u32 {
    u32::try_from(k).expect("fewer than 2^32 loop values")
}
