//! Certified curve fitting: two NIST StRD nonlinear regression problems (Misra1a, lower
//! difficulty; MGH09, higher) written as DSL formula models, fitted with
//! Levenberg–Marquardt from both NIST starting points on the exact `param_jacobian`,
//! and compared with full-batch Adam on the same model.
//!
//! `cargo run --release --example curve_fit`

use std::error::Error;
use std::time::Instant;

use symnn::{network, Adam, Dataset, LevenbergMarquardt, Model, Optimizer};

network! {
    /// NIST Misra1a: `y = b1 (1 − exp(−b2 x))`.
    pub struct Misra1a {
        input x;
        target t;
        param b1, b2;
        output y = b1 * (1.0 - exp(-b2 * x));
        loss = sq(y - t);
    }
}

network! {
    /// NIST MGH09 (Kowalik–Osborne): `y = b1 (x² + x b2) / (x² + x b3 + b4)`.
    pub struct Mgh09 {
        input x;
        target t;
        param b1, b2, b3, b4;
        output y = b1 * (x * x + x * b2) / (x * x + x * b3 + b4);
        loss = sq(y - t);
    }
}

/// A NIST StRD file: the data set, the two starting points and the certified values.
struct Problem {
    data: Dataset<f64>,
    starts: [Vec<f64>; 2],
    certified: Vec<f64>,
}

fn load(name: &str) -> Result<Problem, Box<dyn Error>> {
    let path = format!("{}/data/nist/{name}.dat", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let lines: Vec<&str> = text.lines().collect();
    let (mut starts, mut certified) = ([Vec::new(), Vec::new()], Vec::new());
    for line in &lines {
        let t = line.trim();
        if t.starts_with('b') && t.contains('=') {
            let v: Vec<f64> = t
                .split('=')
                .nth(1)
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|s| s.parse().ok())
                .collect();
            if let [s1, s2, c, ..] = v[..] {
                starts[0].push(s1);
                starts[1].push(s2);
                certified.push(c);
            }
        }
    }
    let header = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with("Data:"))
        .ok_or_else(|| format!("{path}: no `Data:` section"))?;
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for line in lines[header + 1..].iter().filter(|l| !l.trim().is_empty()) {
        let v: Vec<f64> = line
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        if let [y, x] = v[..] {
            ys.push(y);
            xs.push(x);
        }
    }
    Ok(Problem {
        data: Dataset::new(xs, 1, ys, 1)?,
        starts,
        certified,
    })
}

/// The fewest certified significant digits over the parameters.
fn digits(params: &[f64], certified: &[f64]) -> f64 {
    params
        .iter()
        .zip(certified)
        .map(|(b, c)| (-((b - c) / c).abs().log10()).min(15.0))
        .fold(f64::INFINITY, f64::min)
}

fn fit<M: Model<Float = f64>>(name: &str, problem: &Problem) -> Result<(), Box<dyn Error>> {
    for (k, start) in problem.starts.iter().enumerate() {
        let mut net = M::from_params_boxed(start);
        let t = Instant::now();
        let report = LevenbergMarquardt::new().fit(&mut *net, &problem.data)?;
        let elapsed = t.elapsed();
        println!(
            "{name} start {}: LM {:>3} iterations, {:>7.1} µs, sum of squares {:.10e}, {:.1} certified digits",
            k + 1,
            report.iterations,
            elapsed.as_secs_f64() * 1e6,
            report.sum_of_squares,
            digits(net.params(), &problem.certified)
        );
        // Adam on the same model, data and start, full batch.
        let mut net = M::from_params_boxed(start);
        let mut adam = Adam::new(1e-3);
        let mut grad = vec![0.0; M::NUM_PARAMS];
        let n = problem.data.len() as f64;
        let t = Instant::now();
        let steps = 20_000;
        let mut loss = 0.0;
        for _ in 0..steps {
            grad.fill(0.0);
            loss = net.accumulate_gradient_batch_slice(
                problem.data.inputs(),
                problem.data.targets(),
                &mut grad,
            );
            grad.iter_mut().for_each(|g| *g /= n);
            adam.step(net.params_mut(), &grad);
        }
        println!(
            "{name} start {}: Adam {steps} steps (lr 1e-3), {:>7.1} ms, sum of squares {loss:.4e}, {:.1} certified digits",
            k + 1,
            t.elapsed().as_secs_f64() * 1e3,
            digits(net.params(), &problem.certified)
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    fit::<Misra1a>("Misra1a", &load("Misra1a")?)?;
    fit::<Mgh09>("MGH09  ", &load("MGH09")?)?;
    Ok(())
}
