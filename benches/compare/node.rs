//! symnn's side of the `node` group of `benches/compare` (run by `compare.py --only node`;
//! see README.md there): `examples/neural_ode.rs`'s neural ODE — a 2-16-2 tanh vector
//! field integrated with `H` RK4 steps written as a DSL loop, the loss summed over the
//! states — trained with Adam on minibatches of trajectories, against JAX (`lax.scan`
//! over the RK4 steps, `grad`, `jit`; `benches/compare/node.py`).
//!
//! ```text
//! cargo build --release --features compare --example node_compare
//! node_compare export DIR                 # the example's data and start parameters into DIR
//! node_compare check DIR STEPS            # correctness: writes DIR/symnn_*.f64, prints a JSON line
//! node_compare time DIR MODE STEPS REPS   # timing: MODE = batch | sample | trainer1
//! ```
//!
//! `export` writes, little-endian f64 (NumPy's `fromfile` reads them): `params.f64` (the
//! 82 parameters of `NeuralOde::with_seed(pendulum::INIT_SEED)`, in the order `W1`
//! (16×2 row-major), `b1`, `W2` (2×16), `b2`), `s0.f64` (the 256 training initial
//! states, 2 values each), `traj.f64` (their true trajectories, `H × 2` values each), all
//! exactly as `examples/neural_ode.rs` makes them (`examples/common/pendulum.rs`), and
//! `meta.json` (horizon, step, sizes, batch, learning rate).
//!
//! Every mode trains in f64 with Adam (lr 1e-2, symnn's defaults β 0.9 / 0.999, ε 1e-8,
//! constant rate) on the mean loss of minibatches of 32 trajectories taken in data order
//! (no shuffling), cycling through the 256 (8 steps an epoch):
//! - `batch`: `accumulate_gradient_batch_slice` over the minibatch, then `Adam::step`;
//! - `sample`: the same with `accumulate_gradient_slice` once per trajectory;
//! - `trainer1`: `Trainer` with `batch_size(32)`, no shuffling, `threads(1)`: an epoch is
//!   8 steps (the time per step is the epoch's time over 8).
//!
//! Only f64: today the DSL's loop is unrolled at expansion, and each copy of this
//! network takes tens of minutes to build, so no f32 copy (JAX is timed in both).

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use symnn::{network, Adam, Dataset, Model, Optimizer, Trainer};

#[path = "../../examples/common/pendulum.rs"]
mod pendulum;

network! {
    /// `examples/neural_ode.rs`'s network (keep the two equal): the horizon is the `100`
    /// in `traj[100]` and `0..100` (`H` below).
    pub struct NeuralOde {
        input s0[2];
        target traj[100][2];
        param W1[16][2], b1[16], W2[2][16], b2[2];
        fn f(u[2]) = W2 * tanh(W1 * u + b1) + b2;
        let mut s = s0;
        let mut L = 0.0;
        for k in 0..100 {
            let k1 = f(s);
            let k2 = f(s + 0.05 * k1);
            let k3 = f(s + 0.05 * k2);
            let k4 = f(s + 0.1 * k3);
            s = s + 0.1 / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
            L = L + sum(sq(s - traj[k]));
        }
        output y = s;
        loss = L;
    }
}

/// The horizon: the literal in `NeuralOde`.
const H: usize = 100;
const _: () = assert!(NeuralOde::NUM_TARGETS == 2 * H);
const TRAIN: usize = pendulum::TRAIN;
const BATCH: usize = 32;
const LR: f64 = 1e-2;

fn read_f64(path: &Path) -> Result<Vec<f64>, Box<dyn Error>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % 8 != 0 {
        return Err(format!("{}: not a whole number of f64", path.display()).into());
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

fn write_f64(path: &Path, values: &[f64]) -> Result<(), Box<dyn Error>> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()).into())
}

/// The parameter layout JAX assumes (`node.py`): W1 (16, 2), b1, W2 (2, 16), b2.
fn check_layout() -> Result<(), Box<dyn Error>> {
    let layout: Vec<(&str, &[usize])> = <NeuralOde as Model>::param_groups()
        .iter()
        .map(|g| (g.name, g.shape))
        .collect();
    let expected: [(&str, &[usize]); 4] = [
        ("W1", &[16, 2]),
        ("b1", &[16]),
        ("W2", &[2, 16]),
        ("b2", &[2]),
    ];
    if layout != expected {
        return Err(format!("unexpected parameter layout {layout:?}").into());
    }
    Ok(())
}

fn export(dir: &Path) -> Result<(), Box<dyn Error>> {
    check_layout()?;
    std::fs::create_dir_all(dir)?;
    let net = NeuralOde::with_seed(pendulum::INIT_SEED);
    let initial = pendulum::initial_conditions(TRAIN, pendulum::TRAIN_SEED);
    let (s0, traj) = pendulum::samples(&initial, H);
    write_f64(&dir.join("params.f64"), &net.params)?;
    write_f64(&dir.join("s0.f64"), &s0)?;
    write_f64(&dir.join("traj.f64"), &traj)?;
    std::fs::write(
        dir.join("meta.json"),
        format!(
            "{{\"horizon\": {H}, \"dt\": {:e}, \"hidden\": 16, \"train\": {TRAIN}, \"batch\": {BATCH}, \
             \"lr\": {LR:e}, \"num_params\": {}}}\n",
            pendulum::DT,
            NeuralOde::NUM_PARAMS
        ),
    )?;
    println!(
        "RESULT {{\"exported\": \"{}\", \"num_params\": {}}}",
        dir.display(),
        NeuralOde::NUM_PARAMS
    );
    Ok(())
}

/// The start parameters and the training data from `dir`.
fn load(dir: &Path) -> Result<(NeuralOde, Dataset<f64>), Box<dyn Error>> {
    check_layout()?;
    let params = read_f64(&dir.join("params.f64"))?;
    let s0 = read_f64(&dir.join("s0.f64"))?;
    let traj = read_f64(&dir.join("traj.f64"))?;
    if params.len() != NeuralOde::NUM_PARAMS || s0.len() != 2 * TRAIN || traj.len() != 2 * H * TRAIN
    {
        return Err(format!(
            "expected {} params, {} s0 and {} trajectory values, got {}, {} and {}",
            NeuralOde::NUM_PARAMS,
            2 * TRAIN,
            2 * H * TRAIN,
            params.len(),
            s0.len(),
            traj.len()
        )
        .into());
    }
    let net = NeuralOde::from_params(params.try_into().expect("length checked"));
    Ok((net, Dataset::new(s0, 2, traj, 2 * H)?))
}

/// Mean loss and mean gradient over `data`, one trajectory at a time.
fn mean_gradient(net: &NeuralOde, data: &Dataset<f64>) -> (f64, Vec<f64>) {
    let mut grad = vec![0.0; NeuralOde::NUM_PARAMS];
    let mut loss = 0.0;
    for (x, t) in data.iter() {
        loss += net.accumulate_gradient_slice(x, t, &mut grad);
    }
    let n = data.len() as f64;
    (loss / n, grad.iter().map(|g| g / n).collect())
}

/// The same through the block path.
fn mean_gradient_batch(net: &NeuralOde, data: &Dataset<f64>) -> (f64, Vec<f64>) {
    let mut grad = vec![0.0; NeuralOde::NUM_PARAMS];
    let loss = net.accumulate_gradient_batch_slice(data.inputs(), data.targets(), &mut grad);
    let n = data.len() as f64;
    (loss / n, grad.iter().map(|g| g / n).collect())
}

/// Adam on minibatches of `BATCH` in data order, cycling: `step` is the step count so
/// far; returns the minibatch's mean loss before the step.
fn adam_step(
    net: &mut NeuralOde,
    adam: &mut Adam<f64>,
    data: &Dataset<f64>,
    step: usize,
    grad: &mut [f64],
    per_sample: bool,
) -> f64 {
    let first = (step * BATCH) % TRAIN;
    let inputs = &data.inputs()[2 * first..2 * (first + BATCH)];
    let targets = &data.targets()[2 * H * first..2 * H * (first + BATCH)];
    grad.fill(0.0);
    let loss = if per_sample {
        inputs
            .chunks_exact(2)
            .zip(targets.chunks_exact(2 * H))
            .map(|(x, t)| net.accumulate_gradient_slice(x, t, grad))
            .sum::<f64>()
    } else {
        net.accumulate_gradient_batch_slice(inputs, targets, grad)
    } / BATCH as f64;
    grad.iter_mut().for_each(|g| *g /= BATCH as f64);
    adam.step(net.params_mut(), grad);
    loss
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

fn check(dir: &Path, steps: usize) -> Result<(), Box<dyn Error>> {
    let (net, data) = load(dir)?;
    let (loss, grad) = mean_gradient(&net, &data);
    let (loss_b, grad_b) = mean_gradient_batch(&net, &data);
    write_f64(&dir.join("symnn_grad.f64"), &grad)?;
    let mut trained = net.clone();
    let mut adam = Adam::new(LR);
    let mut g = vec![0.0; NeuralOde::NUM_PARAMS];
    let losses: Vec<f64> = (0..steps)
        .map(|k| adam_step(&mut trained, &mut adam, &data, k, &mut g, false))
        .collect();
    write_f64(&dir.join("symnn_params_trained.f64"), &trained.params)?;
    println!(
        "RESULT {{\"loss\": {loss:e}, \"loss_batch\": {loss_b:e}, \"batch_vs_sample_grad_rel\": {:e}, \
         \"losses\": {}, \"final_full_loss\": {:e}, \"gradient_ops\": {}, \"num_params\": {}}}",
        max_rel_diff(&grad_b, &grad),
        json_list(&losses),
        mean_gradient(&trained, &data).0,
        NeuralOde::COST.gradient_ops,
        NeuralOde::NUM_PARAMS,
    );
    Ok(())
}

/// Times `reps` measurements of `steps` Adam steps each (after `steps` warm-up steps);
/// prints the seconds per step of each measurement.
fn time(dir: &Path, mode: &str, steps: usize, reps: usize) -> Result<(), Box<dyn Error>> {
    let (mut net, data) = load(dir)?;
    let mut times = Vec::with_capacity(reps);
    let mut last_loss = f64::NAN;
    match mode {
        "batch" | "sample" => {
            let mut adam = Adam::new(LR);
            let mut grad = vec![0.0; NeuralOde::NUM_PARAMS];
            let per_sample = mode == "sample";
            let mut k = 0;
            for _ in 0..steps {
                adam_step(&mut net, &mut adam, &data, k, &mut grad, per_sample);
                k += 1;
            }
            for _ in 0..reps {
                let start = Instant::now();
                for _ in 0..steps {
                    last_loss = adam_step(&mut net, &mut adam, &data, k, &mut grad, per_sample);
                    k += 1;
                }
                times.push(start.elapsed().as_secs_f64() / steps as f64);
            }
        }
        "trainer1" => {
            let per_epoch = TRAIN / BATCH;
            let epochs = steps.div_ceil(per_epoch).max(1);
            let mut trainer = Trainer::new(Adam::new(LR))
                .epochs(epochs * (reps + 1))
                .batch_size(BATCH)
                .shuffle(false)
                .threads(1);
            let mut run = trainer.iter_epochs(&mut net, &data, None)?;
            for _ in 0..epochs {
                run.next().expect("epochs left")?;
            }
            for _ in 0..reps {
                let start = Instant::now();
                for _ in 0..epochs {
                    last_loss = run.next().expect("epochs left")?.train_loss;
                }
                times.push(start.elapsed().as_secs_f64() / (epochs * per_epoch) as f64);
            }
        }
        _ => return Err(format!("unknown mode {mode:?}").into()),
    }
    println!(
        "RESULT {{\"mode\": \"{mode}\", \"step_s\": {}, \"last_loss\": {last_loss:e}, \
         \"gradient_ops\": {}, \"isa\": \"{:?}\"}}",
        json_list(&times),
        NeuralOde::COST.gradient_ops,
        symnn::simd::isa(),
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: node_compare export DIR | node_compare check DIR STEPS | \
                 node_compare time DIR MODE STEPS REPS";
    let num =
        |i: usize| -> Result<usize, Box<dyn Error>> { Ok(args.get(i).ok_or(usage)?.parse()?) };
    match args.get(1).map(String::as_str) {
        Some("export") if args.len() == 3 => export(args[2].as_ref()),
        Some("check") if args.len() == 4 => check(args[2].as_ref(), num(3)?),
        Some("time") if args.len() == 6 => time(args[2].as_ref(), &args[3], num(4)?, num(5)?),
        _ => Err(usage.into()),
    }
}
