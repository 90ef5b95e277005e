//! symnn's side of the `pinn` group of `benches/compare` (run by `compare.py --only pinn`;
//! see README.md there). The network is `examples/pinn.rs`'s `Poisson`, once in f32 and
//! once in f64, started from parameters and evaluated on points that `compare.py` wrote
//! with NumPy, so JAX and PyTorch do the same arithmetic.
//!
//! ```text
//! cargo build --release --example pinn_compare
//! pinn_compare check DIR STEPS            # correctness: writes DIR/symnn_*.f64, prints a JSON line
//! pinn_compare time DIR MODE STEPS REPS   # timing: MODE = batch | sample | trainer1 | trainer2 | split2
//! ```
//!
//! `DIR` holds `params.f64` (the 921 parameters in `Poisson::param_names()` order) and
//! `points.f64` (1,024 rows of `x0 x1 xb0 xb1`), both little-endian f64 as NumPy's
//! `tofile` writes them; the f32 network rounds them to f32, as JAX's `astype` does.
//!
//! Every mode runs full-batch Adam (lr 1e-3, symnn's defaults β 0.9 / 0.999, ε 1e-8) on
//! the mean loss over the 1,024 samples:
//! - `batch`: `accumulate_gradient_batch_slice` over all samples, then `Adam::step`, as
//!   `examples/pinn.rs` does (one thread);
//! - `sample`: the same with `accumulate_gradient_slice` once per sample (one thread);
//! - `split2`: `batch` with the samples cut into two halves, the second half on a scoped
//!   thread (spawned every step), the two gradients added in order;
//! - `trainer1` / `trainer2`: `Trainer` with `batch_size(1024)`, no shuffling and
//!   `threads(1)` / `threads(2)`: one epoch is one step (its rayon pool, its checks).

use std::error::Error;
use std::time::Instant;

use symnn::{network, Adam, Dataset, Float as _, Model, Optimizer, Trainer};

network! {
    /// `examples/pinn.rs`'s network, f32.
    pub struct Poisson {
        type Float = f32;
        input x[2], xb[2];
        param W1[20][2], b1[20], W2[20][20], b2[20], W3[20][20], b3[20], W4[1][20], b4;
        fn u(z[2]) = sum(W4 * tanh(W3 * tanh(W2 * tanh(W1 * z + b1) + b2) + b3)) + b4;
        output y = u(x);
        let f = 2.0 * 9.869604401089358 * sin(3.141592653589793 * x[0]) * sin(3.141592653589793 * x[1]);
        loss = sq(-laplacian(u(x), x) - f) + sq(u(xb));
    }
}

network! {
    /// The same network in f64, for the exact comparison.
    pub struct Poisson64 {
        type Float = f64;
        input x[2], xb[2];
        param W1[20][2], b1[20], W2[20][20], b2[20], W3[20][20], b3[20], W4[1][20], b4;
        fn u(z[2]) = sum(W4 * tanh(W3 * tanh(W2 * tanh(W1 * z + b1) + b2) + b3)) + b4;
        output y = u(x);
        let f = 2.0 * 9.869604401089358 * sin(3.141592653589793 * x[0]) * sin(3.141592653589793 * x[1]);
        loss = sq(-laplacian(u(x), x) - f) + sq(u(xb));
    }
}

const SAMPLES: usize = 1024;
const LR: f64 = 1e-3;

fn read_f64(path: &std::path::Path) -> Result<Vec<f64>, Box<dyn Error>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % 8 != 0 {
        return Err(format!("{}: not a whole number of f64", path.display()).into());
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

fn write_f64(path: &std::path::Path, values: &[f64]) -> Result<(), Box<dyn Error>> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()).into())
}

/// The parameters and points from `dir`, checked against the network's layout.
fn load(dir: &std::path::Path) -> Result<(Vec<f64>, Vec<f64>), Box<dyn Error>> {
    let params = read_f64(&dir.join("params.f64"))?;
    let points = read_f64(&dir.join("points.f64"))?;
    if params.len() != Poisson::NUM_PARAMS || points.len() != SAMPLES * Poisson::NUM_INPUTS {
        return Err(format!(
            "expected {} params and {} point values, got {} and {}",
            Poisson::NUM_PARAMS,
            SAMPLES * Poisson::NUM_INPUTS,
            params.len(),
            points.len()
        )
        .into());
    }
    // compare.py writes W (out, in) row-major then b, layer by layer.
    let layout: Vec<(&str, &[usize])> = <Poisson as Model>::param_groups()
        .iter()
        .map(|g| (g.name, g.shape))
        .collect();
    let expected: [(&str, &[usize]); 8] = [
        ("W1", &[20, 2]),
        ("b1", &[20]),
        ("W2", &[20, 20]),
        ("b2", &[20]),
        ("W3", &[20, 20]),
        ("b3", &[20]),
        ("W4", &[1, 20]),
        ("b4", &[]),
    ];
    if layout != expected {
        return Err(format!("unexpected parameter layout {layout:?}").into());
    }
    Ok((params, points))
}

fn f32s(values: &[f64]) -> Vec<f32> {
    values.iter().map(|&v| v as f32).collect()
}

/// Mean loss and mean gradient over the samples, one sample at a time.
fn mean_gradient_sample<M: Model>(net: &M, inputs: &[M::Float]) -> (f64, Vec<f64>) {
    let mut grad = vec![<M::Float as symnn::Float>::ZERO; M::NUM_PARAMS];
    let mut loss = 0.0;
    for x in inputs.chunks_exact(M::NUM_INPUTS) {
        loss += net.accumulate_gradient_slice(x, &[], &mut grad).to_f64();
    }
    let n = (inputs.len() / M::NUM_INPUTS) as f64;
    (loss / n, grad.iter().map(|g| g.to_f64() / n).collect())
}

/// Mean loss and mean gradient over the samples, through the block path.
fn mean_gradient_batch<M: Model>(net: &M, inputs: &[M::Float]) -> (f64, Vec<f64>) {
    let mut grad = vec![<M::Float as symnn::Float>::ZERO; M::NUM_PARAMS];
    let loss = net
        .accumulate_gradient_batch_slice(inputs, &[], &mut grad)
        .to_f64();
    let n = (inputs.len() / M::NUM_INPUTS) as f64;
    (loss / n, grad.iter().map(|g| g.to_f64() / n).collect())
}

/// Mean loss, summed one sample at a time (`loss_slice`).
fn mean_loss<M: Model>(net: &M, inputs: &[M::Float]) -> f64 {
    let n = inputs.len() / M::NUM_INPUTS;
    let sum: f64 = inputs
        .chunks_exact(M::NUM_INPUTS)
        .map(|x| net.loss_slice(x, &[]).to_f64())
        .sum();
    sum / n as f64
}

/// One full-batch Adam step the way `examples/pinn.rs` takes it; returns the mean loss
/// before the step.
fn adam_step<M: Model>(
    net: &mut M,
    adam: &mut Adam<M::Float>,
    inputs: &[M::Float],
    grad: &mut [M::Float],
    per_sample: bool,
) -> M::Float {
    grad.fill(M::Float::ZERO);
    let n = M::Float::from_f64((inputs.len() / M::NUM_INPUTS) as f64);
    let loss = if per_sample {
        let mut loss = M::Float::ZERO;
        for x in inputs.chunks_exact(M::NUM_INPUTS) {
            loss += net.accumulate_gradient_slice(x, &[], grad);
        }
        loss
    } else {
        net.accumulate_gradient_batch_slice(inputs, &[], grad)
    } / n;
    grad.iter_mut().for_each(|g| *g /= n);
    adam.step(net.params_mut(), grad);
    loss
}

/// `steps` Adam steps; the mean loss before each step, and the mean loss after the last.
fn train<M: Model>(net: &mut M, inputs: &[M::Float], steps: usize, per_sample: bool) -> Vec<f64> {
    let mut adam = Adam::new(M::Float::from_f64(LR));
    let mut grad = vec![M::Float::ZERO; M::NUM_PARAMS];
    let mut losses: Vec<f64> = (0..steps)
        .map(|_| adam_step(net, &mut adam, inputs, &mut grad, per_sample).to_f64())
        .collect();
    losses.push(mean_loss(net, inputs));
    losses
}

fn json_list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:e}")).collect();
    format!("[{}]", items.join(", "))
}

fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn check(dir: &std::path::Path, steps: usize) -> Result<(), Box<dyn Error>> {
    let (params, points) = load(dir)?;
    // f64: loss and gradient at the start, both paths; then the Adam trajectory.
    let net64 = Poisson64::from_params(params.clone().try_into().expect("length checked"));
    let (loss_s, grad_s) = mean_gradient_sample(&net64, &points);
    let (loss_b, grad_b) = mean_gradient_batch(&net64, &points);
    write_f64(&dir.join("symnn_grad_f64.f64"), &grad_s)?;
    write_f64(&dir.join("symnn_grad_f64_batch.f64"), &grad_b)?;
    let mut trained64 = net64.clone();
    let losses64 = train(&mut trained64, &points, steps, false);
    write_f64(
        &dir.join("symnn_params_f64_trained.f64"),
        trained64.params(),
    )?;
    // f32: the loss and gradient at the start, and the Adam trajectory on both paths.
    let inputs32 = f32s(&points);
    let net32 = Poisson::from_params(f32s(&params).try_into().expect("length checked"));
    let (loss32, grad32) = mean_gradient_batch(&net32, &inputs32);
    write_f64(&dir.join("symnn_grad_f32.f64"), &grad32)?;
    let mut trained32 = net32.clone();
    let losses32 = train(&mut trained32, &inputs32, steps, false);
    let mut trained32s = net32.clone();
    let losses32s = train(&mut trained32s, &inputs32, steps, true);
    println!(
        "RESULT {{\"f64_loss_sample\": {loss_s:e}, \"f64_loss_batch\": {loss_b:e}, \
         \"f64_batch_vs_sample_grad_rel\": {:e}, \"f32_loss\": {loss32:e}, \
         \"f64_losses\": {}, \"f32_losses_batch\": {}, \"f32_losses_sample\": {}, \
         \"gradient_ops\": {}, \"num_params\": {}}}",
        max_rel_diff(&grad_b, &grad_s),
        json_list(&losses64),
        json_list(&losses32),
        json_list(&losses32s),
        Poisson::COST.gradient_ops,
        Poisson::NUM_PARAMS,
    );
    Ok(())
}

/// Times `reps` measurements of `steps` full-batch steps each (after `steps` warm-up
/// steps); prints the seconds per step of each measurement.
fn time(
    dir: &std::path::Path,
    mode: &str,
    steps: usize,
    reps: usize,
) -> Result<(), Box<dyn Error>> {
    let (params, points) = load(dir)?;
    let inputs = f32s(&points);
    let mut net = Poisson::from_params(f32s(&params).try_into().expect("length checked"));
    let mut times = Vec::with_capacity(reps);
    let mut last_loss = f64::NAN;
    match mode {
        "batch" | "sample" | "split2" => {
            let mut adam = Adam::new(LR as f32);
            let mut grad = vec![0.0_f32; Poisson::NUM_PARAMS];
            let mut grad2 = vec![0.0_f32; Poisson::NUM_PARAMS];
            let half = SAMPLES / 2 * Poisson::NUM_INPUTS;
            let mut step = |net: &mut Poisson| -> f32 {
                if mode == "split2" {
                    let n = SAMPLES as f32;
                    grad.fill(0.0);
                    grad2.fill(0.0);
                    let shared = &*net;
                    let (a, b) = inputs.split_at(half);
                    let (loss_a, loss_b) = std::thread::scope(|s| {
                        let other =
                            s.spawn(|| shared.accumulate_gradient_batch_slice(b, &[], &mut grad2));
                        let loss_a = shared.accumulate_gradient_batch_slice(a, &[], &mut grad);
                        (loss_a, other.join().expect("worker"))
                    });
                    for (g, h) in grad.iter_mut().zip(&grad2) {
                        *g = (*g + h) / n;
                    }
                    adam.step(net.params_mut(), &grad);
                    (loss_a + loss_b) / n
                } else {
                    adam_step(net, &mut adam, &inputs, &mut grad, mode == "sample")
                }
            };
            for _ in 0..steps {
                step(&mut net);
            }
            for _ in 0..reps {
                let start = Instant::now();
                for _ in 0..steps {
                    last_loss = f64::from(step(&mut net));
                }
                times.push(start.elapsed().as_secs_f64() / steps as f64);
            }
        }
        "trainer1" | "trainer2" => {
            let threads = if mode == "trainer1" { 1 } else { 2 };
            let data = Dataset::new(inputs.clone(), Poisson::NUM_INPUTS, Vec::new(), 0)?;
            let mut trainer = Trainer::new(Adam::new(LR as f32))
                .epochs(steps * (reps + 1))
                .batch_size(SAMPLES)
                .shuffle(false)
                .threads(threads);
            let mut epochs = trainer.iter_epochs(&mut net, &data, None)?;
            for _ in 0..steps {
                epochs.next().expect("epochs left")?;
            }
            for _ in 0..reps {
                let start = Instant::now();
                for _ in 0..steps {
                    last_loss = epochs.next().expect("epochs left")?.train_loss;
                }
                times.push(start.elapsed().as_secs_f64() / steps as f64);
            }
        }
        _ => return Err(format!("unknown mode {mode:?}").into()),
    }
    println!(
        "RESULT {{\"mode\": \"{mode}\", \"step_s\": {}, \"steps_trained\": {}, \"last_loss\": {last_loss:e}, \
         \"gradient_ops\": {}, \"isa\": \"{:?}\"}}",
        json_list(&times),
        steps * (reps + 1),
        Poisson::COST.gradient_ops,
        symnn::simd::isa(),
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: pinn_compare check DIR STEPS | pinn_compare time DIR MODE STEPS REPS";
    let num =
        |i: usize| -> Result<usize, Box<dyn Error>> { Ok(args.get(i).ok_or(usage)?.parse()?) };
    match args.get(1).map(String::as_str) {
        Some("check") if args.len() == 4 => check(args[2].as_ref(), num(3)?),
        Some("time") if args.len() == 6 => time(args[2].as_ref(), &args[3], num(4)?, num(5)?),
        _ => Err(usage.into()),
    }
}
