//! A physics-informed network for the 2-D Poisson problem of SPEC §5.2:
//! `-Δu = f` on the unit square with `u = 0` on its boundary, where
//! `f = 2π² sin(πx) sin(πy)`, so the exact solution is `u = sin(πx) sin(πy)`.
//!
//! The loss of one sample is the squared PDE residual at an interior point plus the
//! squared boundary value at a boundary point; `laplacian(u(x), x)` is differentiated
//! symbolically at compile time, and the parameter gradient of the loss (a derivative
//! of a second derivative) too. Full-batch Adam (1,024 interior and 256 boundary
//! points, paired into 1,024 samples), then L-BFGS from where Adam stopped.
//!
//! `cargo run --release --example pinn` (`PINN_STEPS=N` for a shorter Adam phase;
//! `PINN_LBFGS_HISTORY=m` for L-BFGS's history, 30 by default; the parameters after Adam
//! are saved to `target/pinn_adam.params`, and `PINN_START=that file` skips Adam).

use std::error::Error;
use std::f64::consts::PI;
use std::fmt::Write as _;
use std::time::Instant;

use symnn::init::SplitMix64;
use symnn::{network, Adam, Dataset, Lbfgs, Model, Optimizer};

network! {
    /// 2-20-20-20-1 tanh, evaluated at an interior point `x` and a boundary point `xb`
    /// with the same weights.
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

const INTERIOR: usize = 1024;
const BOUNDARY: usize = 256;
const GRID: usize = 101;

/// The relative L2 error of the network against `sin(πx) sin(πy)` on a 101×101 grid,
/// and the grid of absolute errors.
fn relative_l2(net: &Poisson) -> (f64, Vec<f64>) {
    let (mut num, mut den) = (0.0, 0.0);
    let mut errors = Vec::with_capacity(GRID * GRID);
    for i in 0..GRID {
        for j in 0..GRID {
            let (a, b) = (i as f64 / (GRID - 1) as f64, j as f64 / (GRID - 1) as f64);
            let exact = (PI * a).sin() * (PI * b).sin();
            let u = f64::from(net.forward(&[a as f32, b as f32, 0.0, 0.0])[0]);
            num += (u - exact).powi(2);
            den += exact * exact;
            errors.push((u - exact).abs());
        }
    }
    ((num / den).sqrt(), errors)
}

fn points(rng: &mut SplitMix64) -> Dataset<f32> {
    let interior: Vec<[f64; 2]> = (0..INTERIOR)
        .map(|_| [rng.next_f64(), rng.next_f64()])
        .collect();
    let boundary: Vec<[f64; 2]> = (0..BOUNDARY)
        .map(|k| {
            let s = rng.next_f64();
            match k % 4 {
                0 => [s, 0.0],
                1 => [s, 1.0],
                2 => [0.0, s],
                _ => [1.0, s],
            }
        })
        .collect();
    let inputs: Vec<f32> = (0..INTERIOR)
        .flat_map(|k| {
            let (x, b) = (interior[k], boundary[k % BOUNDARY]);
            [x[0], x[1], b[0], b[1]].map(|v| v as f32)
        })
        .collect();
    Dataset::new(inputs, 4, Vec::new(), 0).expect("whole rows")
}

/// The error grid as an SVG heat map.
fn error_svg(errors: &[f64], path: &str) -> std::io::Result<()> {
    let max = errors.iter().copied().fold(1e-12, f64::max);
    let cell = 4;
    let size = GRID * cell;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\"><title>|u - u_exact|, max {max:.2e}</title>",
        w = size + 160,
        h = size + 20
    );
    for (k, e) in errors.iter().enumerate() {
        let (i, j) = (k / GRID, k % GRID);
        let t = e / max;
        let (r, g, b) = (
            (255.0 * t) as u8,
            (80.0 * (1.0 - t)) as u8,
            (255.0 * (1.0 - t)) as u8,
        );
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"{cell}\" height=\"{cell}\" fill=\"rgb({r},{g},{b})\"/>",
            i * cell,
            (GRID - 1 - j) * cell
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"20\" font-family=\"sans-serif\" font-size=\"12\">|u − u*|: blue 0, red {max:.2e}</text></svg>",
        size + 8
    );
    std::fs::write(path, svg)
}

fn main() -> Result<(), Box<dyn Error>> {
    let steps: usize = std::env::var("PINN_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let mut rng = SplitMix64::new(17);
    let data = points(&mut rng);
    let mut net = Poisson::with_seed(3);
    println!(
        "-Δu = 2π² sin(πx) sin(πy) on the unit square: 2-20-20-20-1 tanh, {} params, {} samples (interior + boundary point each)",
        Poisson::NUM_PARAMS,
        data.len()
    );
    println!("Cost of one sample's gradient: {:?}", Poisson::COST);

    // Phase 1: full-batch Adam (or the parameters it reached in an earlier run).
    let saved = "target/pinn_adam.params";
    if let Ok(path) = std::env::var("PINN_START") {
        let bytes = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        if bytes.len() != 4 * Poisson::NUM_PARAMS {
            return Err(format!(
                "{path}: {} bytes, expected {}",
                bytes.len(),
                4 * Poisson::NUM_PARAMS
            )
            .into());
        }
        for (p, b) in net.params.iter_mut().zip(bytes.chunks_exact(4)) {
            *p = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        println!(
            "started from {path}: relative L2 error {:.3e}",
            relative_l2(&net).0
        );
    } else {
        let mut adam = Adam::new(1e-3_f32);
        let mut grad = vec![0.0_f32; Poisson::NUM_PARAMS];
        let n = data.len() as f32;
        let start = Instant::now();
        for step in 1..=steps {
            grad.fill(0.0);
            let loss =
                net.accumulate_gradient_batch_slice(data.inputs(), data.targets(), &mut grad) / n;
            grad.iter_mut().for_each(|g| *g /= n);
            adam.step(net.params_mut(), &grad);
            if step % 2000 == 0 || step == 1 {
                println!(
                    "adam step {step:>6}: loss {loss:.4e}, relative L2 error {:.3e}",
                    relative_l2(&net).0
                );
            }
        }
        let adam_time = start.elapsed();
        let (adam_error, _) = relative_l2(&net);
        println!(
            "Adam: {steps} steps in {:.2} s ({:.3} ms per full-batch step), relative L2 error {adam_error:.3e}",
            adam_time.as_secs_f64(),
            adam_time.as_secs_f64() * 1e3 / steps.max(1) as f64
        );
        std::fs::create_dir_all("target")?;
        let bytes: Vec<u8> = net.params.iter().flat_map(|p| p.to_le_bytes()).collect();
        std::fs::write(saved, bytes)?;
    }

    // Phase 2: L-BFGS from where Adam stopped.
    let start = Instant::now();
    let history = std::env::var("PINN_LBFGS_HISTORY")
        .ok()
        .and_then(|s| s.parse().ok())
        // (f32 rounding stops L-BFGS early: with history 10 it stopped at a relative L2
        // error of 1.27e-3, with 30 at 6.0e-4, with 100 at 1.37e-3 after 600 iterations.)
        .unwrap_or(30);
    let report = Lbfgs::new()
        .history(history)
        .max_iterations(5000)
        .fit(&mut net, &data);
    let (error, errors) = relative_l2(&net);
    match report {
        Ok(r) => println!(
            "L-BFGS (history {history}): {} iterations in {:.2} s, mean loss {:.4e}, stopped: {:?}; relative L2 error {error:.3e}",
            r.iterations,
            start.elapsed().as_secs_f64(),
            r.loss,
            r.stop
        ),
        Err(e) => println!("L-BFGS stopped: {e}; relative L2 error {error:.3e}"),
    }
    std::fs::create_dir_all("target/plots")?;
    error_svg(&errors, "target/plots/pinn_error.svg")?;
    println!("wrote target/plots/pinn_error.svg");
    Ok(())
}
