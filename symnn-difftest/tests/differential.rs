//! Differential test: the code `network!` emits against the engine's reference
//! interpreter, `Graph::evaluate`, on the graph `symnn_codegen::derive` builds from the
//! same DSL text.
//!
//! For every network of `build.rs` and several random points (inputs, targets, params):
//! `forward`, `forward_slice` and `loss_and_output`'s output against the output nodes;
//! every loss (`loss`, `loss_slice`, `loss_and_output`, `gradient`, `accumulate_gradient`,
//! its slice form, `sgd_step`, its slice form) against the loss node; every gradient
//! against the gradient nodes; the parameters after `sgd_step` against
//! `params - lr * grad`. `f64` networks must agree to a relative 1e-12, widened by each
//! value's sensitivity to its leaves (the emitted transcendentals are `symnn::math`'s,
//! within 2 ulp of libm's; see `sensitivity`), and mostly agree to the bit (the count
//! is printed). `f32` networks are compared at well-conditioned
//! points only, with a tolerance for f32 rounding.
//!
//! `gradient_matches_finite_differences` checks the emitted `gradient` against central
//! finite differences of the emitted `loss` (no interpreter involved), with Richardson
//! extrapolation over two step sizes; a parameter at which the two step sizes disagree
//! (a kink of relu/abs/max/min within a step, or an ill-conditioned point) is skipped
//! and counted. The networks, their number and seed come from `build.rs`
//! (`SYMNN_DIFFTEST_NETWORKS`, `SYMNN_DIFFTEST_SEED`, `SYMNN_DIFFTEST_LOOPS`); see
//! docs/TESTING.md.
//!
//! Long loops (issue 20): every long-loop network is compiled unrolled (a `Case`,
//! checked like the others) and rolled (`ROLLED`: its loops are Rust loops, which the
//! interpreter cannot run). `rolled_loops_match_the_unrolled_form` holds every method of
//! the rolled form, one-sample and batch, to the unrolled form's values and to the
//! interpreter's on the unrolled graph; the finite-difference and batch tests take the
//! rolled forms too.

use std::str::FromStr;

use symnn_codegen::graph::{Node, NodeId};
use symnn_difftest::{
    BatchOutcome, Case, Outcome, RolledCase, BOTH_TIERS, CASES, LOOP_NETWORKS, RANDOM_NETWORKS,
    ROLLED, SEED,
};

const POINTS: usize = 6;
const LR: f64 = 0.125;

/// The points come from the runtime's SplitMix64 (the generator of `init`).
struct Rng(symnn::init::SplitMix64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(symnn::init::SplitMix64::new(seed))
    }
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in [-1.5, 1.5), rounded to f32 for f32 networks (so that both sides see
    /// the same point).
    fn value(&mut self, f32: bool) -> f64 {
        let x = self.0.next_f64() * 3.0 - 1.5;
        if f32 {
            f64::from(x as f32)
        } else {
            x
        }
    }
    fn values(&mut self, n: usize, f32: bool) -> Vec<f64> {
        (0..n).map(|_| self.value(f32)).collect()
    }
    /// A class-index target for `classes` logits: a class (6 in 8), or `classes` (out of
    /// range) or a non-integer (the NaN-loss path).
    fn class_index(&mut self, classes: usize) -> f64 {
        match self.next() % 8 {
            0 => classes as f64,
            1 => 0.5,
            _ => (self.next() % classes as u64) as f64,
        }
    }
}

/// The interpreter's values at one point: output, loss, gradient, and the parameters
/// after one SGD step.
struct Reference {
    output: Vec<f64>,
    loss: f64,
    grad: Vec<f64>,
    stepped: Vec<f64>,
    /// `|p| + |lr * g|` per parameter: the size of the terms of `p - lr * g`, which is
    /// what a rounding difference in `g` is relative to when the two nearly cancel.
    step_scale: Vec<f64>,
    /// f64 only: per value (outputs, loss, gradient) a scale for its tolerance from its
    /// sensitivity (see [`sensitivity`]).
    slack: Vec<f64>,
}

struct Engine {
    derived: symnn_codegen::emit::Derived,
    roots: Vec<NodeId>,
    outputs: usize,
}

impl Engine {
    fn new(case: &Case) -> Engine {
        Engine::from_source(case.name, case.source)
    }

    fn from_source(name: &str, source: &str) -> Engine {
        let tokens = proc_macro2::TokenStream::from_str(source).expect("tokenizes");
        let (_, derived) =
            symnn_codegen::derive(tokens).unwrap_or_else(|e| panic!("{name}: derive failed: {e}"));
        assert!(
            derived.program.rolled.is_empty(),
            "{name}: the interpreter runs unrolled programs only"
        );
        let program = &derived.program;
        let mut roots = program.output.elems.clone();
        let outputs = roots.len();
        roots.push(program.loss);
        roots.extend(&derived.grads);
        // Groups read as whole tensors: their adjoints add to the scalar parts.
        roots.extend(derived.group_grads.iter().map(|&(_, adjoint)| adjoint));
        Engine {
            derived,
            roots,
            outputs,
        }
    }

    fn evaluate(&self, params: &[f64], input: &[f64], target: &[f64]) -> Reference {
        let program = &self.derived.program;
        let arrays = program
            .graph
            .evaluate_arrays(&self.roots, input, target, params);
        let v: Vec<f64> = arrays.iter().map(|a| a[0]).collect();
        let n = program.num_params();
        let mut grad = v[self.outputs + 1..self.outputs + 1 + n].to_vec();
        let groups = &arrays[self.outputs + 1 + n..];
        for (&(group, _), values) in self.derived.group_grads.iter().zip(groups) {
            let offset = program.params[group].offset;
            for (g, x) in grad[offset..].iter_mut().zip(values) {
                *g += x;
            }
        }
        let stepped = params.iter().zip(&grad).map(|(p, g)| p - LR * g).collect();
        let step_scale = params
            .iter()
            .zip(&grad)
            .map(|(p, g)| p.abs() + (LR * g).abs())
            .collect();
        Reference {
            output: v[..self.outputs].to_vec(),
            loss: v[self.outputs],
            grad,
            stepped,
            step_scale,
            slack: Vec::new(),
        }
    }
}

/// The emitted code's transcendentals are not libm's to the bit (`symnn::math`'s tanh
/// and softplus everywhere, its exp, ln and sigmoid in loops: 1-2 ulp), so at a point
/// where a value cancels (a gradient of 3e-5 from terms of 1) a 2-ulp difference is
/// far above 1e-12 of the value. The tolerance of each f64 value therefore includes
/// its sensitivity `c`: the interpreter's change under a relative 2^-40 perturbation
/// of every leaf, divided by 2^-40 (the change per unit relative perturbation). A
/// value may then differ by 1e-14·c, the effect of relative errors of ~45 ulp in the
/// leaves; the returned scales are 1e-2·c (`compare_scaled` multiplies by 1e-12).
fn sensitivity(
    engine: &Engine,
    rng: &mut Rng,
    reference: &Reference,
    params: &[f64],
    input: &[f64],
    target: &[f64],
) -> Vec<f64> {
    let h = 2f64.powi(-40);
    let mut jiggle = |xs: &[f64]| -> Vec<f64> {
        xs.iter()
            .map(|&x| {
                let sign = if rng.next() & 1 == 0 { 1.0 } else { -1.0 };
                x * (1.0 + sign * h)
            })
            .collect()
    };
    let (p, i) = (jiggle(params), jiggle(input));
    let moved = engine.evaluate(&p, &i, target);
    let values = |r: &Reference| {
        r.output
            .iter()
            .chain([&r.loss])
            .chain(&r.grad)
            .copied()
            .collect::<Vec<f64>>()
    };
    values(reference)
        .iter()
        .zip(values(&moved))
        .map(|(a, b)| {
            if (a - b).is_finite() {
                (a - b).abs() / h * 1e-2
            } else {
                0.0
            }
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    values: usize,
    bit_exact: usize,
    /// Equal but for the sign of a zero.
    signed_zeros: usize,
    points: usize,
    skipped_points: usize,
    failures: Vec<String>,
    /// f64 values that agree within the tolerance but not to the bit (by method).
    inexact: Vec<String>,
}

/// Compares one emitted value with the interpreter's, the f64 tolerance relative to at least `scale` (the size of the terms
/// that produced `want`).
fn compare_scaled(tally: &mut Tally, f32: bool, what: &str, got: f64, want: f64, scale: f64) {
    tally.values += 1;
    if got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()) {
        tally.bit_exact += 1;
        return;
    }
    if got == want {
        // +0.0 vs -0.0 (`accumulate_gradient` adds into a zeroed array, so a gradient
        // of -0.0 comes back as +0.0).
        tally.signed_zeros += 1;
        return;
    }
    if !f32 {
        let method = what.split('[').next().unwrap_or(what).to_owned();
        if !tally.inexact.contains(&method) {
            tally.inexact.push(method);
        }
    }
    let diff = (got - want).abs();
    let ok = if f32 {
        diff <= 1e-4 * want.abs() + 1e-5
    } else {
        diff <= 1e-12 * want.abs().max(got.abs()).max(scale)
    };
    if !ok && tally.failures.len() < 40 {
        tally
            .failures
            .push(format!("{what}: emitted {got:e}, interpreter {want:e}"));
    }
}

/// Whether the interpreter's values barely move when every input and parameter is
/// perturbed by a relative 2^-20 (16x f32's epsilon): only then can f32 code be held
/// to a fixed tolerance.
fn well_conditioned(
    engine: &Engine,
    rng: &mut Rng,
    reference: &Reference,
    params: &[f64],
    input: &[f64],
    target: &[f64],
) -> bool {
    let mut jiggle = |xs: &[f64]| -> Vec<f64> {
        xs.iter()
            .map(|&x| {
                let sign = if rng.next() & 1 == 0 { 1.0 } else { -1.0 };
                x * (1.0 + sign * 2f64.powi(-20))
            })
            .collect()
    };
    let (p, i) = (jiggle(params), jiggle(input));
    let moved = engine.evaluate(&p, &i, target);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * a.abs() + 1e-6;
    let all_close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(&x, &y)| close(x, y));
    reference.loss.is_finite()
        && close(reference.loss, moved.loss)
        && all_close(&reference.output, &moved.output)
        && all_close(&reference.grad, &moved.grad)
}

fn check_point(tally: &mut Tally, f32: bool, got: &Outcome, want: &Reference) {
    let o = want.output.len();
    let slack = |k: usize| want.slack.get(k).copied().unwrap_or(0.0);
    let outputs = |tally: &mut Tally, what: &str, got: &[f64]| {
        assert_eq!(got.len(), o, "{what}: length");
        for (k, (&g, &w)) in got.iter().zip(&want.output).enumerate() {
            compare_scaled(tally, f32, &format!("{what}[{k}]"), g, w, slack(k));
        }
    };
    outputs(tally, "forward", &got.forward);
    outputs(tally, "forward_slice", &got.forward_slice);
    outputs(tally, "loss_and_output.1", &got.loss_and_output.1);
    for (what, loss) in [
        ("loss", got.loss),
        ("loss_slice", got.loss_slice),
        ("loss_and_output.0", got.loss_and_output.0),
        ("gradient.0", got.gradient.0),
        ("accumulate_gradient", got.accumulate.0),
        ("accumulate_gradient_slice", got.accumulate_slice.0),
        ("sgd_step", got.sgd_step.0),
        ("sgd_step_slice", got.sgd_step_slice.0),
    ] {
        compare_scaled(tally, f32, what, loss, want.loss, slack(o));
    }
    // Normwise floor: a component that cancels to (nearly) 0 is held to 1e-14 of the
    // largest component (f64), not to its own size: the interpreter can get exactly
    // 0 where the emitted code, summing in another order, leaves a 1e-18 residue, and
    // the sensitivity of an exact 0 is 0.
    let largest = want
        .grad
        .iter()
        .filter(|g| g.is_finite())
        .fold(0f64, |m, g| m.max(g.abs()));
    for (what, grad) in [
        ("gradient.1", &got.gradient.1),
        ("accumulate_gradient", &got.accumulate.1),
        ("accumulate_gradient_slice", &got.accumulate_slice.1),
    ] {
        assert_eq!(grad.len(), want.grad.len(), "{what}: length");
        for (k, (&g, &w)) in grad.iter().zip(&want.grad).enumerate() {
            let scale = slack(o + 1 + k).max(1e-2 * largest);
            compare_scaled(tally, f32, &format!("{what}[{k}]"), g, w, scale);
        }
    }
    // (`p - lr * g` can nearly cancel: a gradient summed in another order is within
    // 1e-12 of the sizes of `p` and `lr * g`, not of their difference.)
    for (what, stepped) in [
        ("params after sgd_step", &got.sgd_step.1),
        ("params after sgd_step_slice", &got.sgd_step_slice.1),
    ] {
        assert_eq!(stepped.len(), want.stepped.len(), "{what}: length");
        for (k, (&g, (&w, &scale))) in stepped
            .iter()
            .zip(want.stepped.iter().zip(&want.step_scale))
            .enumerate()
        {
            let scale = scale.max(LR * slack(o + 1 + k));
            compare_scaled(tally, f32, &format!("{what}[{k}]"), g, w, scale);
        }
    }
}

#[test]
fn emitted_code_matches_the_interpreter() {
    let start = std::time::Instant::now();
    let mut rng = Rng::new(0xD1FF);
    let mut report = Vec::new();
    // [f64, f32]: values compared, bit-exact, points; f32 points skipped.
    let (mut total, mut exact, mut points, mut skipped) = ([0; 2], [0; 2], [0; 2], 0);
    let mut signed_zeros = [0; 2];
    let mut largest = ("", 0);
    let mut ill_conditioned = Vec::new();
    for case in CASES {
        let engine = Engine::new(case);
        let program = &engine.derived.program;
        let [p, i, t, o] = case.net.sizes();
        assert_eq!(
            [p, i, t, o],
            [
                program.num_params(),
                program.num_inputs(),
                program.num_targets(),
                program.output.elems.len()
            ],
            "{}: sizes",
            case.name
        );
        assert_eq!(
            engine.derived.grads.len(),
            p,
            "{}: one gradient per param",
            case.name
        );
        if case.net.gradient_instructions() > largest.1 {
            largest = (case.name, case.net.gradient_instructions());
        }
        let f32 = case.net.is_f32();
        let mut tally = Tally::default();
        let mut attempts = 0;
        while tally.points < POINTS && attempts < 4 * POINTS {
            attempts += 1;
            let params = rng.values(p, f32);
            let input = rng.values(i, f32);
            let mut target = rng.values(t, f32);
            for &(k, classes) in case.class_targets {
                target[k] = rng.class_index(classes);
            }
            let mut want = engine.evaluate(&params, &input, &target);
            if !f32 {
                want.slack = sensitivity(&engine, &mut rng, &want, &params, &input, &target);
            }
            if f32 && !well_conditioned(&engine, &mut rng, &want, &params, &input, &target) {
                tally.skipped_points += 1;
                continue;
            }
            let got = case.net.run(&params, &input, &target, LR);
            let before = tally.failures.len();
            check_point(&mut tally, f32, &got, &want);
            if tally.failures.len() > before {
                tally.failures.insert(
                    before,
                    format!("at params {params:?}, input {input:?}, target {target:?}:"),
                );
            }
            tally.points += 1;
        }
        if tally.points < POINTS / 2 {
            // An f32 network can be ill-conditioned almost everywhere (Net99 of seed 1: an
            // exp/powi chain); counted, and bounded below.
            ill_conditioned.push(format!(
                "{}: {} well-conditioned points in {attempts}",
                case.name, tally.points
            ));
        }
        total[usize::from(f32)] += tally.values;
        exact[usize::from(f32)] += tally.bit_exact;
        signed_zeros[usize::from(f32)] += tally.signed_zeros;
        points[usize::from(f32)] += tally.points;
        skipped += tally.skipped_points;
        if !tally.inexact.is_empty() {
            println!(
                "{}: {} of {} values within tolerance but not bit-exact, in {}",
                case.name,
                tally.values - tally.bit_exact - tally.signed_zeros,
                tally.values,
                tally.inexact.join(", ")
            );
        }
        if !tally.failures.is_empty() {
            report.push(format!(
                "{} ({}):\n{}\n  {}",
                case.name,
                if f32 { "f32" } else { "f64" },
                case.source,
                tally.failures.join("\n  ")
            ));
        }
    }
    let f32_nets = CASES.iter().filter(|c| c.net.is_f32()).count();
    println!(
        "{} networks ({} f64, {f32_nets} f32), {} points; f64: {} values compared, {} bit-exact, {} equal but for the sign of zero; \
         f32: {} values compared ({skipped} ill-conditioned points skipped); {:.1?}",
        CASES.len(),
        CASES.len() - f32_nets,
        points[0] + points[1],
        total[0],
        exact[0],
        signed_zeros[0],
        total[1],
        start.elapsed()
    );
    // At most one f32 network in 20 may be too ill-conditioned to compare.
    let f32_cases = CASES.iter().filter(|c| c.net.is_f32()).count();
    println!(
        "f32 networks with fewer than {} well-conditioned points in {}: {} of {f32_cases} {ill_conditioned:?}",
        POINTS / 2,
        4 * POINTS,
        ill_conditioned.len()
    );
    assert!(
        ill_conditioned.len() <= 1 + f32_cases / 20,
        "too many ill-conditioned f32 networks: {ill_conditioned:?}"
    );
    assert!(
        report.is_empty(),
        "emitted code disagrees with Graph::evaluate:\n{}",
        report.join("\n\n")
    );
    // Every random network in both tiers, and one large enough for the emitter's
    // array-mode paths.
    println!(
        "largest: {} with {} gradient instructions",
        largest.0, largest.1
    );
    assert_eq!(CASES.iter().filter(|c| c.random).count(), compiled_random());
    assert!(largest.1 > 1000);
}

/// Samples per batch in [`batch_methods_match_one_sample_at_a_time`]: three blocks of
/// four (f64 lanes), one of eight (f32), plus a tail.
const BATCH: usize = 13;

/// `got` within rounding of `want`, where both sum terms whose absolute values sum to
/// `scale` in different orders.
///
/// The f32 tolerance is loose (2e-4 of the scale): inside one sample a backward sum can
/// cancel, which `scale` does not see (MlpT, f32, 2-8-8-1 in loops: 1.7e-5 of the scale
/// at one random batch). A wrong or missing sample is off by far more.
fn close_sum(f32: bool, got: f64, want: f64, scale: f64) -> bool {
    let tol = if f32 { 2e-4 } else { 1e-13 };
    got == want
        || (got.is_nan() && want.is_nan())
        || (got - want).abs() <= tol * scale.max(f64::MIN_POSITIVE)
}

/// Every network's batch methods (`accumulate_gradient_batch`, its slice form,
/// `sgd_step_batch`, `loss_batch` and `forward_batch`) against the one-sample methods
/// sample by sample on the same random batch: equal up to the order of summation (and
/// the last ulps of the vectorised transcendentals).
///
/// Runs on an 8 MiB stack: in a debug build the batch code of a tensor-tier network
/// with much scalar code (Net9 of the default set: f32, a 15x31 layer, ~2000 scalar
/// instructions, blocks of 64 samples) needs 3-4 MiB, more than a test thread's 2 MiB
/// (the block size budgets 512 KiB of arrays, `emit/batch.rs`; see docs/TESTING.md).
#[test]
fn batch_methods_match_one_sample_at_a_time() {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(batch_methods)
        .expect("spawn")
        .join()
        .expect("batch methods match");
}

fn batch_methods() {
    let mut rng = Rng::new(0xBA7C);
    let mut failures = Vec::new();
    let rolled: Vec<Case> = ROLLED.iter().map(rolled_case).collect();
    for case in CASES.iter().chain(&rolled) {
        let [p, i, t, _] = case.net.sizes();
        let f32 = case.net.is_f32();
        let params = rng.values(p, f32);
        let inputs = rng.values(BATCH * i, f32);
        let mut targets = rng.values(BATCH * t, f32);
        for s in 0..BATCH {
            for &(k, classes) in case.class_targets {
                targets[s * t + k] = rng.class_index(classes);
            }
        }
        let got: BatchOutcome = case.net.run_batch(&params, &inputs, &targets, LR);
        let (seq_loss, seq) = &got.one_by_one;
        let (abs_loss, abs) = &got.abs_sums;
        // A component that is exactly zero in every sample can come out as a rounding
        // residue of other terms in the batch order (Net76T of seed 1: 9e-17 for 0):
        // every component's scale is at least a small fraction of the largest one.
        let floor = abs.iter().fold(0.0f64, |m, &a| m.max(a)) * 1e-2;
        let abs: Vec<f64> = abs.iter().map(|&a| a.max(floor)).collect();
        let mut fail = |what: String| {
            if failures.len() < 40 {
                failures.push(format!("{}: {what}", case.name));
            }
        };
        for (what, (loss, grad)) in [("batch", &got.batch), ("batch_slice", &got.batch_slice)] {
            if !close_sum(f32, *loss, *seq_loss, *abs_loss) {
                fail(format!("{what} loss {loss:e} vs {seq_loss:e}"));
            }
            for (k, (g, s)) in grad.iter().zip(seq).enumerate() {
                if !close_sum(f32, *g, *s, abs[k]) {
                    fail(format!(
                        "{what} grad[{k}] {g:e} vs {s:e} (scale {:e})",
                        abs[k]
                    ));
                }
            }
        }
        if !close_sum(f32, got.loss_batch, *seq_loss, *abs_loss) {
            fail(format!("loss_batch {:e} vs {seq_loss:e}", got.loss_batch));
        }
        let (rows, one_rows) = &got.forward_batch;
        for (k, (r, o)) in rows.iter().zip(one_rows).enumerate() {
            if !close_sum(f32, *r, *o, o.abs().max(1.0)) {
                fail(format!("forward_batch[{k}] {r:e} vs {o:e}"));
            }
        }
        let n = BATCH as f64;
        let (mean, stepped) = &got.sgd_step_batch;
        if !close_sum(f32, *mean, seq_loss / n, abs_loss / n) {
            fail(format!(
                "sgd_step_batch loss {mean:e} vs {:e}",
                seq_loss / n
            ));
        }
        for (k, (after, (p0, g))) in stepped.iter().zip(params.iter().zip(seq)).enumerate() {
            let want = p0 - LR * g / n;
            let scale = p0.abs() + LR * abs[k] / n;
            if !close_sum(f32, *after, want, scale) {
                fail(format!("sgd_step_batch param {k}: {after:e} vs {want:e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// How many random networks were compiled (each in one or both tiers).
fn compiled_random() -> usize {
    if BOTH_TIERS {
        2 * RANDOM_NETWORKS
    } else {
        RANDOM_NETWORKS
    }
}

/// Whether the program has tensor nodes (the tensor tier: loops and kernels) or is all
/// scalar (unrolled straight-line code).
fn has_tensors(engine: &Engine) -> bool {
    engine
        .derived
        .program
        .graph
        .iter()
        .any(|(_, node)| matches!(node, Node::Tensor(_)))
}

/// Counts of the finite-difference check.
#[derive(Default)]
struct FdTally {
    /// Partial derivatives compared.
    comparisons: usize,
    /// Partial derivatives skipped: the two step sizes disagree (a kink within a step,
    /// or a badly conditioned point).
    skipped_kinks: usize,
    /// Partial derivatives skipped: a loss at a shifted point was not finite.
    skipped_nonfinite: usize,
    /// Points skipped: the loss itself was not finite.
    skipped_points: usize,
    failures: Vec<String>,
}

/// Checks `grad` (claimed to be the gradient of the emitted loss at `params`) against
/// central finite differences of `case`'s emitted `loss`, one parameter at a time.
///
/// Two steps `h` and `h/2` (`h = 2^-14 max(1, |p|)` in f64, `2^-7 max(1, |p|)` in f32,
/// each rounded to the float type, the actual difference used) give `d1` and `d2`; the
/// estimate is Richardson's `d2 + (d2 - d1)/3`, whose error is far below `|d1 - d2|` on
/// smooth functions. Rounding noise of the quotients is bounded by
/// `64 eps max(1, |L|) / h`. If `|d1 - d2|` exceeds 10 % of the derivative plus that
/// noise, the function is not smooth on the step (a relu/abs/max/min kink) or the
/// point is ill-conditioned: the parameter is skipped and counted. Otherwise the claimed
/// derivative must be within `rel max(|g|, |est|) + |d1 - d2| + 4 noise` of the estimate
/// (`rel` = 1e-6 in f64, 1e-3 in f32).
fn fd_compare(
    case: &Case,
    names: &[String],
    (params, input, target): (&[f64], &[f64], &[f64]),
    (loss, grad): (f64, &[f64]),
    tally: &mut FdTally,
) {
    let f32 = case.net.is_f32();
    let (base_step, eps, rel) = if f32 {
        (2f64.powi(-7), f64::from(f32::EPSILON), 1e-3)
    } else {
        (2f64.powi(-14), f64::EPSILON, 1e-6)
    };
    let round = |x: f64| if f32 { f64::from(x as f32) } else { x };
    if !loss.is_finite() {
        tally.skipped_points += 1;
        return;
    }
    let mut shifted = params.to_vec();
    // The central difference with step `h` and the magnitude of the two losses.
    let mut central = |k: usize, h: f64| -> (f64, f64, f64) {
        let (plus, minus) = (round(params[k] + h), round(params[k] - h));
        shifted[k] = plus;
        let lp = case.net.loss(&shifted, input, target);
        shifted[k] = minus;
        let lm = case.net.loss(&shifted, input, target);
        shifted[k] = params[k];
        (
            (lp - lm) / (plus - minus),
            lp.abs().max(lm.abs()),
            plus - minus,
        )
    };
    for (k, &g) in grad.iter().enumerate() {
        let h = base_step * params[k].abs().max(1.0);
        let (d1, m1, _) = central(k, h);
        let (d2, m2, width) = central(k, h / 2.0);
        if !(d1.is_finite() && d2.is_finite()) {
            tally.skipped_nonfinite += 1;
            continue;
        }
        let noise = 64.0 * eps * m1.max(m2).max(loss.abs()).max(1.0) / width;
        let spread = (d1 - d2).abs();
        if spread > 0.1 * d1.abs().max(d2.abs()) + 10.0 * noise {
            tally.skipped_kinks += 1;
            continue;
        }
        let estimate = d2 + (d2 - d1) / 3.0;
        let tolerance = rel * g.abs().max(estimate.abs()) + spread + 4.0 * noise;
        tally.comparisons += 1;
        // (A NaN gradient fails too.)
        let close = (g - estimate).abs() <= tolerance;
        if !close && tally.failures.len() < 40 {
            tally.failures.push(format!(
                "{} ({}): d/d{} emitted gradient {g:e}, finite differences {estimate:e} \
                 (h: {d1:e}, h/2: {d2:e}, tolerance {tolerance:e}) at params {params:?}, \
                 input {input:?}, target {target:?}",
                case.name,
                if f32 { "f32" } else { "f64" },
                names[k],
            ));
        }
    }
}

/// Points per network of the finite-difference check.
const FD_POINTS: usize = 3;

/// A random point for `case`: params, input, target (class indices in range).
fn fd_point(rng: &mut Rng, case: &Case) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let [p, i, t, _] = case.net.sizes();
    let f32 = case.net.is_f32();
    let params = rng.values(p, f32);
    let input = rng.values(i, f32);
    let mut target = rng.values(t, f32);
    for &(k, classes) in case.class_targets {
        target[k] = (rng.next() % classes as u64) as f64;
    }
    (params, input, target)
}

/// The emitted `gradient` of every network against central finite differences of its
/// emitted `loss`, at `FD_POINTS` random points each.
#[test]
fn gradient_matches_finite_differences() {
    let start = std::time::Instant::now();
    let mut rng = Rng::new(0xFD);
    let mut tally = FdTally::default();
    // [f64, f32] x [scalar tier, tensor tier]: networks (random ones only) and points.
    let mut networks = [[0usize; 2]; 2];
    let mut fixed = 0;
    let mut loops = 0;
    let mut points = 0;
    for case in CASES {
        let engine = Engine::new(case);
        let names = engine.derived.program.param_names();
        if case.random {
            networks[usize::from(case.net.is_f32())][usize::from(has_tensors(&engine))] += 1;
        } else if case.long_loop {
            loops += 1;
        } else {
            fixed += 1;
        }
        for _ in 0..FD_POINTS {
            let (params, input, target) = fd_point(&mut rng, case);
            let (loss, grad) = case.net.gradient(&params, &input, &target);
            fd_compare(
                case,
                &names,
                (&params, &input, &target),
                (loss, &grad),
                &mut tally,
            );
            points += 1;
        }
    }
    // The long-loop networks' rolled forms (parameter names as their unrolled twins').
    for rolled in ROLLED {
        let case = rolled_case(rolled);
        // (From the rolled text: deriving the unrolled one takes seconds in a debug
        // build.)
        let tokens = proc_macro2::TokenStream::from_str(rolled.source).expect("tokenizes");
        let (_, derived) = symnn_codegen::derive(tokens).expect("a generated network");
        let names = derived.program.param_names();
        for _ in 0..FD_POINTS {
            let (params, input, target) = fd_point(&mut rng, &case);
            let (loss, grad) = case.net.gradient(&params, &input, &target);
            fd_compare(
                &case,
                &names,
                (&params, &input, &target),
                (loss, &grad),
                &mut tally,
            );
            points += 1;
        }
    }
    println!(
        "finite differences: seed {SEED:#x}, {RANDOM_NETWORKS} random networks compiled as {} \
         (f64 scalar tier {}, f64 tensor tier {}, f32 scalar tier {}, f32 tensor tier {}) + {fixed} \
         hand-written + {LOOP_NETWORKS} long-loop networks unrolled ({loops}) and rolled ({}); \
         {points} points ({} with a non-finite loss skipped); {} partial derivatives \
         compared, {} skipped at kinks or ill-conditioned, {} skipped (non-finite shifted loss); \
         {} failures; {:.1?}",
        compiled_random(),
        networks[0][0],
        networks[0][1],
        networks[1][0],
        networks[1][1],
        ROLLED.len(),
        tally.skipped_points,
        tally.comparisons,
        tally.skipped_kinks,
        tally.skipped_nonfinite,
        tally.failures.len(),
        start.elapsed()
    );
    assert!(
        tally.failures.is_empty(),
        "emitted gradient disagrees with finite differences of the emitted loss:\n{}",
        tally.failures.join("\n")
    );
    // The check must mostly compare, not skip.
    assert!(tally.comparisons > 10 * (tally.skipped_kinks + tally.skipped_nonfinite));
}

/// The finite-difference check is not vacuous: a gradient off by 1 % in one component
/// (or with one sign flipped) fails it, in f64 and in f32.
#[test]
fn finite_differences_catch_a_wrong_gradient() {
    let mut rng = Rng::new(0xBAD);
    for name in ["Seed003", "Mlp", "Big", "BigF32", "SparseClassifier"] {
        let case = CASES
            .iter()
            .find(|c| c.name == name)
            .expect("fixed network");
        let engine = Engine::new(case);
        let names = engine.derived.program.param_names();
        let (params, input, target) = fd_point(&mut rng, case);
        let (loss, grad) = case.net.gradient(&params, &input, &target);
        let mut right = FdTally::default();
        fd_compare(
            case,
            &names,
            (&params, &input, &target),
            (loss, &grad),
            &mut right,
        );
        assert!(
            right.failures.is_empty() && right.comparisons > 0,
            "{name}: {:?}",
            right.failures
        );
        // The largest component 1 % off; then the same one with its sign flipped.
        let k = (0..grad.len())
            .max_by(|&a, &b| grad[a].abs().total_cmp(&grad[b].abs()))
            .expect("params");
        for wrong in [grad[k] * 1.01, -grad[k]] {
            let mut bad = grad.clone();
            bad[k] = wrong;
            let mut tally = FdTally::default();
            fd_compare(
                case,
                &names,
                (&params, &input, &target),
                (loss, &bad),
                &mut tally,
            );
            assert_eq!(
                tally.failures.len(),
                1,
                "{name}: a wrong d/d{} ({wrong:e} for {:e}) went unnoticed",
                names[k],
                grad[k]
            );
        }
    }
}

/// A central difference of `f` at `x0` in direction `k` (or along `dir`), with steps
/// `h` and `h/2`; `None` where the two disagree (a kink, or too ill-conditioned) or
/// where rounding the values of `f` alone could move them past the tolerance.
fn central(f: &dyn Fn(f64) -> Vec<f64>, h: f64) -> Option<Vec<f64>> {
    let magnitude = std::cell::Cell::new(0.0f64);
    let d = |h: f64| -> Vec<f64> {
        let (p, m) = (f(h), f(-h));
        let largest = p
            .iter()
            .chain(&m)
            .fold(magnitude.get(), |a, x| a.max(x.abs()));
        magnitude.set(largest);
        p.iter().zip(&m).map(|(a, b)| (a - b) / (2.0 * h)).collect()
    };
    let (a, b) = (d(h), d(h / 2.0));
    let scale = a.iter().chain(&b).fold(1.0f64, |m, x| m.max(x.abs()));
    // Rounding `f(x ± h)` alone moves a quotient by up to ε·|f|/h. Where that is not
    // far below the tolerance, differences cannot judge the point: a value dominated
    // by a large term (seed 7's Net117: a loss near 3e10 from `hn^9`, whose quotients
    // came out as multiples of 0.76, or 0) is skipped like a kink.
    let roundoff = f64::EPSILON * magnitude.get() / (h / 2.0);
    (roundoff <= 1e-7 * scale
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x.is_finite() && (x - y).abs() <= 1e-6 * scale))
    .then_some(b)
}

/// SPEC §5.3 on every f64 network without `diff` (random and hand-written, both
/// tiers): `input_jacobian`, `input_gradient`, `hvp` and `param_jacobian` against
/// central differences of the emitted `forward`, `loss` and `gradient`; `hvp`
/// symmetric (`wᵀHv = vᵀHw`).
#[test]
fn derivative_methods_match_finite_differences() {
    let mut rng = Rng::new(0xD5);
    let (mut compared, mut skipped, mut networks) = (0usize, 0usize, 0usize);
    let mut failures: Vec<String> = Vec::new();
    for case in CASES {
        if case.net.is_f32() {
            continue;
        }
        let [p_n, i_n, _, o_n] = case.net.sizes();
        let (params, input, target) = fd_point(&mut rng, case);
        let v: Vec<f64> = (0..p_n).map(|_| rng.value(false)).collect();
        let w: Vec<f64> = (0..p_n).map(|_| rng.value(false)).collect();
        let Some(d) = case.net.derivatives(&params, &input, &target, &v) else {
            continue;
        };
        if !d.input_gradient.0.is_finite() {
            continue;
        }
        networks += 1;
        let mut check = |what: &str, got: &[f64], fd: Option<Vec<f64>>| {
            let Some(fd) = fd else {
                skipped += 1;
                return;
            };
            let scale = fd.iter().chain(got).fold(1.0f64, |m, x| m.max(x.abs()));
            for (k, (g, f)) in got.iter().zip(&fd).enumerate() {
                compared += 1;
                if (g - f).abs() > 1e-5 * scale || !g.is_finite() {
                    failures.push(format!(
                        "{}: {what}[{k}] = {g}, finite differences {f}",
                        case.name
                    ));
                }
            }
        };
        let h = 1e-5;
        for i in 0..i_n {
            let at = |t: f64| {
                let mut x = input.clone();
                x[i] += t;
                x
            };
            let fd = central(&|t| case.net.forward(&params, &at(t)), h);
            let column: Vec<f64> = (0..o_n).map(|o| d.input_jacobian[o * i_n + i]).collect();
            check("input_jacobian column", &column, fd);
            let fd = central(&|t| vec![case.net.loss(&params, &at(t), &target)], h);
            check("input_gradient", &[d.input_gradient.1[i]], fd);
        }
        let fd = central(
            &|t| {
                let shifted: Vec<f64> = params.iter().zip(&v).map(|(p, v)| p + t * v).collect();
                case.net.gradient(&shifted, &input, &target).1
            },
            h,
        );
        check("hvp", &d.hvp.1, fd);
        for k in 0..p_n {
            let fd = central(
                &|t| {
                    let mut shifted = params.clone();
                    shifted[k] += t;
                    case.net.forward(&shifted, &input)
                },
                h,
            );
            let column: Vec<f64> = (0..o_n).map(|o| d.param_jacobian.0[o * p_n + k]).collect();
            check("param_jacobian column", &column, fd);
        }
        // Symmetry of the exact Hessian.
        if let Some(dw) = case.net.derivatives(&params, &input, &target, &w) {
            let whv: f64 = w.iter().zip(&d.hvp.1).map(|(a, b)| a * b).sum();
            let vhw: f64 = v.iter().zip(&dw.hvp.1).map(|(a, b)| a * b).sum();
            let scale = whv.abs().max(vhw.abs()).max(1.0);
            if whv.is_finite() && ((whv - vhw).abs() > 1e-9 * scale || !vhw.is_finite()) {
                failures.push(format!("{}: wᵀHv = {whv} but vᵀHw = {vhw}", case.name));
            }
        }
    }
    println!(
        "derivative methods: {networks} f64 networks, {compared} components compared, {skipped} directions skipped (kinks or rounding-dominated), {} failures",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        networks > 10 && compared > 10 * skipped.max(1),
        "the check must mostly compare"
    );
}

/// A rolled form as a [`Case`] (for the finite-difference and batch checks).
fn rolled_case(rolled: &RolledCase) -> Case {
    Case {
        name: rolled.name,
        source: rolled.source,
        net: rolled.net,
        class_targets: rolled.class_targets,
        random: false,
        long_loop: true,
    }
}

/// The unrolled twin of a rolled form, if it was compiled.
fn twin(rolled: &RolledCase) -> Option<&'static Case> {
    let name = rolled.unrolled?;
    Some(
        CASES
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{}: no unrolled twin {name}", rolled.name)),
    )
}

/// The unrolled form's values at one point, as the reference `check_point` compares
/// with (the interpreter's sensitivities widen the f64 tolerance as there).
fn reference_of(got: &Outcome, params: &[f64], slack: Vec<f64>) -> Reference {
    let grad = got.gradient.1.clone();
    Reference {
        output: got.forward.clone(),
        loss: got.loss,
        stepped: got.sgd_step.1.clone(),
        step_scale: params
            .iter()
            .zip(&grad)
            .map(|(p, g)| p.abs() + (LR * g).abs())
            .collect(),
        grad,
        slack,
    }
}

/// Every long loop the generator meant to be a Rust loop is one at `loop_threshold =
/// 0` (else the comparison below would compare the unrolled form with itself), and a
/// rolled network has no derivative methods (`HAS_DERIVATIVE_METHODS` is false).
#[test]
fn long_loops_are_rolled() {
    assert_eq!(ROLLED.len(), LOOP_NETWORKS);
    let mut failures = Vec::new();
    for rolled in ROLLED {
        if rolled.rolled_loops != rolled.expected_loops {
            failures.push(format!(
                "{}: {} loops rolled, {} expected\n{}",
                rolled.name, rolled.rolled_loops, rolled.expected_loops, rolled.source
            ));
        }
        let [p, i, t, _] = rolled.net.sizes();
        let point = (vec![0.1; p], vec![0.1; i], vec![0.1; t], vec![0.1; p]);
        if rolled
            .net
            .derivatives(&point.0, &point.1, &point.2, &point.3)
            .is_some()
        {
            failures.push(format!("{}: has the derivative methods", rolled.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every method of each rolled form against the same network unrolled: `forward`,
/// `loss`, `loss_and_output`, `gradient`, `accumulate_gradient`, `sgd_step` and their
/// slice forms at `POINTS` points, against the interpreter's values on the unrolled
/// graph and (when compiled, below 100 iterations by default) the unrolled form's
/// emitted values (f64: 1e-12 relative, widened by each value's sensitivity as in
/// `emitted_code_matches_the_interpreter`; f32: 1e-4 at well-conditioned points); the
/// batch methods (`accumulate_gradient_batch`, its slice form, `sgd_step_batch`,
/// `forward_batch`, `loss_batch`) against the unrolled form's batch methods on one
/// batch (f64: 1e-12 of the summed magnitudes, f32: 2e-4). (The batch methods against
/// the rolled form's own one-sample methods: `batch_methods_match_one_sample_at_a_time`.)
#[test]
fn rolled_loops_match_the_unrolled_form() {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(rolled_against_unrolled)
        .expect("spawn")
        .join()
        .expect("rolled loops match the unrolled form");
}

fn rolled_against_unrolled() {
    let start = std::time::Instant::now();
    let mut rng = Rng::new(0x1005);
    let mut report = Vec::new();
    let (mut against_unrolled, mut against_interpreter) = (Tally::default(), Tally::default());
    let (mut skipped, mut batch_values) = (0, 0);
    let mut iterations = Vec::new();
    let mut twins = 0;
    for rolled in ROLLED {
        let unrolled = twin(rolled);
        let engine = Engine::from_source(rolled.name, rolled.unrolled_source);
        let f32 = rolled.net.is_f32();
        let program = &engine.derived.program;
        assert_eq!(
            rolled.net.sizes(),
            [
                program.num_params(),
                program.num_inputs(),
                program.num_targets(),
                program.output.elems.len()
            ],
            "{}: sizes",
            rolled.name
        );
        if let Some(unrolled) = unrolled {
            assert_eq!(
                rolled.net.sizes(),
                unrolled.net.sizes(),
                "{}: sizes",
                rolled.name
            );
            assert_eq!(f32, unrolled.net.is_f32());
            twins += 1;
        }
        iterations.push(rolled.iterations);
        let [p, i, t, _] = rolled.net.sizes();
        let mut failures = Vec::new();
        let (mut points, mut attempts) = (0, 0);
        while points < POINTS && attempts < 4 * POINTS {
            attempts += 1;
            let params = rng.values(p, f32);
            let input = rng.values(i, f32);
            let mut target = rng.values(t, f32);
            for &(k, classes) in rolled.class_targets {
                target[k] = rng.class_index(classes);
            }
            let mut interpreted = engine.evaluate(&params, &input, &target);
            if f32 {
                if !well_conditioned(&engine, &mut rng, &interpreted, &params, &input, &target) {
                    skipped += 1;
                    continue;
                }
            } else {
                interpreted.slack =
                    sensitivity(&engine, &mut rng, &interpreted, &params, &input, &target);
            }
            let got = rolled.net.run(&params, &input, &target, LR);
            let want = unrolled.map(|u| {
                reference_of(
                    &u.net.run(&params, &input, &target, LR),
                    &params,
                    interpreted.slack.clone(),
                )
            });
            let mut references = vec![(&mut against_interpreter, &interpreted)];
            if let Some(want) = &want {
                references.push((&mut against_unrolled, want));
            }
            for (tally, reference) in references {
                let before = tally.failures.len();
                check_point(tally, f32, &got, reference);
                if tally.failures.len() > before {
                    failures.push(format!(
                        "at params {params:?}, input {input:?}, target {target:?}:\n  {}",
                        tally.failures[before..].join("\n  ")
                    ));
                    tally.failures.truncate(before);
                }
            }
            points += 1;
        }
        // The batch methods of both forms on one batch.
        let Some(unrolled) = unrolled else {
            if !failures.is_empty() {
                failures.truncate(12);
                report.push(format!(
                    "{} ({}, rolled) against the interpreter:\n{}\n  {}",
                    rolled.name,
                    if f32 { "f32" } else { "f64" },
                    rolled.source,
                    failures.join("\n  ")
                ));
            }
            continue;
        };
        let inputs = rng.values(BATCH * i, f32);
        let mut targets = rng.values(BATCH * t, f32);
        for s in 0..BATCH {
            for &(k, classes) in rolled.class_targets {
                targets[s * t + k] = rng.class_index(classes);
            }
        }
        let params = rng.values(p, f32);
        let got = rolled.net.run_batch(&params, &inputs, &targets, LR);
        let want = unrolled.net.run_batch(&params, &inputs, &targets, LR);
        batch_values += compare_batches(f32, &got, &want, &params, &mut failures);
        if !failures.is_empty() {
            failures.truncate(12);
            report.push(format!(
                "{} ({}, rolled) against {}:\n{}\n  {}",
                rolled.name,
                if f32 { "f32" } else { "f64" },
                unrolled.name,
                rolled.source,
                failures.join("\n  ")
            ));
        }
    }
    println!(
        "rolled loops: {} networks ({} f32; long loops of {iterations:?} iterations; {twins} \
         also compiled unrolled); against the unrolled form: {} values ({} bit-exact), \
         against the interpreter: {} values ({} bit-exact); {skipped} ill-conditioned f32 \
         points skipped; batch methods against the unrolled form's: {batch_values} values; \
         {} networks disagree; {:.1?}",
        ROLLED.len(),
        ROLLED.iter().filter(|r| r.net.is_f32()).count(),
        against_unrolled.values,
        against_unrolled.bit_exact,
        against_interpreter.values,
        against_interpreter.bit_exact,
        report.len(),
        start.elapsed()
    );
    assert!(
        report.is_empty(),
        "rolled loops disagree with the unrolled form:\n{}",
        report.join("\n\n")
    );
}

/// The batch methods of a rolled form against its unrolled twin's on the same batch:
/// the two sum the same per-sample values in the same order, so they agree to the
/// rounding of each sample (f64: 1e-12 of the summed magnitudes; f32: 2e-4). Returns
/// the number of values compared.
fn compare_batches(
    f32: bool,
    got: &BatchOutcome,
    want: &BatchOutcome,
    params: &[f64],
    failures: &mut Vec<String>,
) -> usize {
    let tol = if f32 { 2e-4 } else { 1e-12 };
    let (abs_loss, abs) = &want.abs_sums;
    let floor = abs.iter().fold(0.0f64, |m, &a| m.max(a)) * 1e-2;
    let abs: Vec<f64> = abs.iter().map(|&a| a.max(floor)).collect();
    let mut count = 0;
    let mut close = |what: String, g: f64, w: f64, scale: f64| {
        count += 1;
        let ok = g == w
            || (g.is_nan() && w.is_nan())
            || (g - w).abs() <= tol * scale.max(w.abs()).max(f64::MIN_POSITIVE);
        if !ok && failures.len() < 40 {
            failures.push(format!("{what}: rolled {g:e}, unrolled {w:e}"));
        }
    };
    let n = BATCH as f64;
    for (what, (gl, gg), (wl, wg)) in [
        ("accumulate_gradient_batch", &got.batch, &want.batch),
        (
            "accumulate_gradient_batch_slice",
            &got.batch_slice,
            &want.batch_slice,
        ),
    ] {
        close(format!("{what} loss"), *gl, *wl, *abs_loss);
        for (k, (g, w)) in gg.iter().zip(wg).enumerate() {
            close(format!("{what}[{k}]"), *g, *w, abs[k]);
        }
    }
    close(
        "loss_batch".into(),
        got.loss_batch,
        want.loss_batch,
        *abs_loss,
    );
    close(
        "sgd_step_batch loss".into(),
        got.sgd_step_batch.0,
        want.sgd_step_batch.0,
        abs_loss / n,
    );
    for (k, (g, w)) in got
        .sgd_step_batch
        .1
        .iter()
        .zip(&want.sgd_step_batch.1)
        .enumerate()
    {
        let scale = params[k].abs() + LR * abs[k] / n;
        close(format!("params after sgd_step_batch[{k}]"), *g, *w, scale);
    }
    for (k, (g, w)) in got
        .forward_batch
        .0
        .iter()
        .zip(&want.forward_batch.0)
        .enumerate()
    {
        close(format!("forward_batch[{k}]"), *g, *w, w.abs().max(1.0));
    }
    count
}
