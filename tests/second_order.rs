//! SPEC §5.4 through the facade: `use symnn::{Dataset, LevenbergMarquardt, Lbfgs}` on
//! `network!` models (a NIST formula model and a small f32 net, boxed), with no type
//! annotations on the optimisers.

use symnn::{network, Dataset, Lbfgs, LevenbergMarquardt, Model};

network! {
    /// NIST Misra1a, `y = b1 (1 − exp(−b2 x))`, as a DSL formula model.
    pub struct Misra1a {
        input x;
        target t;
        param b1 = 500.0, b2 = 1e-4;
        output y = b1 * (1.0 - exp(-b2 * x));
        loss = (y - t) * (y - t);
    }
}

network! {
    /// A small f32 regression net.
    pub struct Wave {
        type Float = f32;
        input x[1];
        target t[1];
        let h = dense(x, 8, tanh);
        output y = dense(h, 1, identity);
        loss = mse(y, t);
    }
}

/// Misra1a's data, starting values and certified values from `data/nist/Misra1a.dat`.
fn misra1a() -> (Dataset<f64>, [[f64; 2]; 2], [f64; 2]) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/nist/Misra1a.dat");
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut starts = [[0.0; 2]; 2];
    let mut cert = [0.0; 2];
    let mut k = 0;
    for l in &lines {
        let t = l.trim();
        if t.starts_with('b') && t.contains('=') {
            let v: Vec<f64> = t
                .split('=')
                .nth(1)
                .unwrap()
                .split_whitespace()
                .map(|s| s.parse().unwrap())
                .collect();
            starts[0][k] = v[0];
            starts[1][k] = v[1];
            cert[k] = v[2];
            k += 1;
        }
    }
    let header = lines.iter().rposition(|l| l.starts_with("Data:")).unwrap();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for l in lines[header + 1..].iter().filter(|l| !l.trim().is_empty()) {
        let v: Vec<f64> = l.split_whitespace().map(|s| s.parse().unwrap()).collect();
        ys.push(v[0]);
        xs.push(v[1]);
    }
    (Dataset::new(xs, 1, ys, 1).unwrap(), starts, cert)
}

#[test]
fn levenberg_marquardt_fits_a_network_formula_model_to_certified_digits() {
    let (data, starts, cert) = misra1a();
    for start in starts {
        let mut net = Misra1a::from_params(start);
        let report = LevenbergMarquardt::new().fit(&mut net, &data).unwrap();
        assert!(report.converged, "{report:?}");
        let digits = net
            .params()
            .iter()
            .zip(cert)
            .map(|(b, c)| -((b - c) / c).abs().log10())
            .fold(f64::INFINITY, f64::min);
        assert!(digits >= 6.0, "{digits} digits, {report:?}");
        assert!(
            (report.sum_of_squares - 1.2455138894e-01).abs() < 1e-8,
            "{report:?}"
        );
    }
}

#[test]
fn lbfgs_trains_a_boxed_f32_network() {
    let xs: Vec<f32> = (0..40).map(|k| k as f32 / 13.0 - 1.5).collect();
    let ts: Vec<f32> = xs.iter().map(|x| x.sin()).collect();
    let data = Dataset::new(xs, 1, ts, 1).unwrap();
    let mut net = Wave::with_seed_boxed(3);
    let report = Lbfgs::new()
        .max_iterations(500)
        .fit(&mut *net, &data)
        .unwrap();
    assert!(report.loss < 1e-4, "{report:?}");
    assert!(report.loss < report.initial_loss);
    // Levenberg–Marquardt on the same boxed net (outputs = targets).
    let report = LevenbergMarquardt::new()
        .max_iterations(50)
        .fit(&mut *net, &data)
        .unwrap();
    assert!(report.sum_of_squares < 40.0 * 1e-4, "{report:?}");
}
