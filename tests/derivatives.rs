//! SPEC §5: `diff`, `laplacian`, shaped `fn`s and the derivative methods, checked
//! against central finite differences of the generated `forward`/`loss`/`gradient`
//! (independent of the symbolic derivative), in both tiers.

use symnn::{network, Model};

network! {
    /// 2-3-2 tanh with an MSE loss, scalar tier.
    pub struct Small {
        input x[2];
        target t[2];
        param W1[3][2] = [[0.3, -0.2], [0.5, 0.1], [-0.4, 0.6]], b1[3] = [0.1, -0.1, 0.05];
        param W2[2][3] = [[0.2, -0.3, 0.4], [0.7, 0.1, -0.5]], b2[2] = [0.0, 0.2];
        let h = tanh(W1 * x + b1);
        output y = W2 * h + b2;
        loss = mse(y, t) + 0.1 * sum(sq(W1));
    }
}

network! {
    /// The same network in the tensor tier.
    #[symnn(tensor_threshold = 0)]
    pub struct SmallWide {
        input x[2];
        target t[2];
        param W1[3][2] = [[0.3, -0.2], [0.5, 0.1], [-0.4, 0.6]], b1[3] = [0.1, -0.1, 0.05];
        param W2[2][3] = [[0.2, -0.3, 0.4], [0.7, 0.1, -0.5]], b2[2] = [0.0, 0.2];
        let h = tanh(W1 * x + b1);
        output y = W2 * h + b2;
        loss = mse(y, t) + 0.1 * sum(sq(W1));
    }
}

const X: [f64; 2] = [0.7, -0.4];
const T: [f64; 2] = [0.25, -0.5];

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs())),
        "{what}: {a} vs {b}"
    );
}

fn check_methods<M: Model<Float = f64>>(net: &M) {
    let (i_n, o_n, p_n) = (M::NUM_INPUTS, M::NUM_OUTPUTS, M::NUM_PARAMS);
    let h = 1e-6;
    // input_jacobian
    let mut jac = vec![0.0; o_n * i_n];
    net.input_jacobian_slice(&X, &mut jac);
    for i in 0..i_n {
        let (mut xp, mut xm) = (X, X);
        xp[i] += h;
        xm[i] -= h;
        let (mut yp, mut ym) = (vec![0.0; o_n], vec![0.0; o_n]);
        net.forward_slice(&xp, &mut yp);
        net.forward_slice(&xm, &mut ym);
        for o in 0..o_n {
            close(
                jac[o * i_n + i],
                (yp[o] - ym[o]) / (2.0 * h),
                1e-7,
                "input_jacobian",
            );
        }
    }
    // input_gradient
    let mut gx = vec![0.0; i_n];
    let loss = net.input_gradient_slice(&X, &T, &mut gx);
    close(loss, net.loss_slice(&X, &T), 1e-14, "input_gradient loss");
    for i in 0..i_n {
        let (mut xp, mut xm) = (X, X);
        xp[i] += h;
        xm[i] -= h;
        let fd = (net.loss_slice(&xp, &T) - net.loss_slice(&xm, &T)) / (2.0 * h);
        close(gx[i], fd, 1e-7, "input_gradient");
    }
    // param_jacobian
    let mut pj = vec![0.0; o_n * p_n];
    let mut out = vec![0.0; o_n];
    net.param_jacobian_slice(&X, &mut pj, &mut out);
    let mut y = vec![0.0; o_n];
    net.forward_slice(&X, &mut y);
    assert_eq!(out, y);
    for p in 0..p_n {
        let (mut a, mut b) = (net.clone(), net.clone());
        a.params_mut()[p] += h;
        b.params_mut()[p] -= h;
        let (mut ya, mut yb) = (vec![0.0; o_n], vec![0.0; o_n]);
        a.forward_slice(&X, &mut ya);
        b.forward_slice(&X, &mut yb);
        for o in 0..o_n {
            close(
                pj[o * p_n + p],
                (ya[o] - yb[o]) / (2.0 * h),
                1e-7,
                "param_jacobian",
            );
        }
    }
    // hvp against finite differences of the exact gradient, and symmetric.
    let v: Vec<f64> = (0..p_n).map(|k| ((k * 7 % 5) as f64 - 2.0) * 0.3).collect();
    let w: Vec<f64> = (0..p_n).map(|k| ((k * 3 % 4) as f64 - 1.5) * 0.2).collect();
    let mut hv = vec![0.0; p_n];
    let mut hw = vec![0.0; p_n];
    let l = net.hvp_slice(&X, &T, &v, &mut hv);
    close(l, net.loss_slice(&X, &T), 1e-14, "hvp loss");
    net.hvp_slice(&X, &T, &w, &mut hw);
    let (mut a, mut b) = (net.clone(), net.clone());
    for (k, vk) in v.iter().enumerate() {
        a.params_mut()[k] += h * vk;
        b.params_mut()[k] -= h * vk;
    }
    let (mut ga, mut gb) = (vec![0.0; p_n], vec![0.0; p_n]);
    a.gradient_into_slice(&X, &T, &mut ga);
    b.gradient_into_slice(&X, &T, &mut gb);
    for k in 0..p_n {
        close(hv[k], (ga[k] - gb[k]) / (2.0 * h), 1e-6, "hvp");
    }
    let whv: f64 = w.iter().zip(&hv).map(|(a, b)| a * b).sum();
    let vhw: f64 = v.iter().zip(&hw).map(|(a, b)| a * b).sum();
    close(whv, vhw, 1e-12, "hvp symmetry");
}

#[test]
fn derivative_methods_match_finite_differences_in_both_tiers() {
    check_methods(&Small::new());
    check_methods(&SmallWide::new());
    // The two tiers agree.
    let (a, b) = (Small::new(), SmallWide::new());
    let (ja, jb) = (a.input_jacobian(&X), b.input_jacobian(&X));
    for (ra, rb) in ja.iter().zip(&jb) {
        for (x, y) in ra.iter().zip(rb) {
            close(*x, *y, 1e-12, "tiers agree");
        }
    }
}

network! {
    /// SPEC §5.2's Poisson PINN (a smaller width, so both tiers stay quick to build).
    pub struct Poisson {
        input x[2], xb[2];
        param W1[6][2], b1[6], W2[6][6], b2[6], W3[1][6], b3;
        fn u(z[2]) = sum(W3 * tanh(W2 * tanh(W1 * z + b1) + b2)) + b3;
        output y = u(x);
        let f = 2.0 * 9.869604401089358 * sin(3.141592653589793 * x[0]) * sin(3.141592653589793 * x[1]);
        loss = sq(-laplacian(u(x), x) - f) + sq(u(xb));
    }
}

network! {
    /// The same, in the tensor tier.
    #[symnn(tensor_threshold = 0)]
    pub struct PoissonWide {
        input x[2], xb[2];
        param W1[6][2], b1[6], W2[6][6], b2[6], W3[1][6], b3;
        fn u(z[2]) = sum(W3 * tanh(W2 * tanh(W1 * z + b1) + b2)) + b3;
        output y = u(x);
        let f = 2.0 * 9.869604401089358 * sin(3.141592653589793 * x[0]) * sin(3.141592653589793 * x[1]);
        loss = sq(-laplacian(u(x), x) - f) + sq(u(xb));
    }
}

fn u_of<M: Model<Float = f64>>(net: &M, x: [f64; 2]) -> f64 {
    let mut y = [0.0];
    net.forward_slice(&[x[0], x[1], 0.0, 0.0], &mut y);
    y[0]
}

fn check_poisson<M: Model<Float = f64>>(net: &M) {
    let x = [0.3, 0.6];
    let xb = [0.0, 0.4];
    let input = [x[0], x[1], xb[0], xb[1]];
    // Laplacian by second differences of the generated forward.
    let h = 1e-4;
    let u0 = u_of(net, x);
    let lap: f64 = (0..2)
        .map(|i| {
            let (mut p, mut m) = (x, x);
            p[i] += h;
            m[i] -= h;
            (u_of(net, p) - 2.0 * u0 + u_of(net, m)) / (h * h)
        })
        .sum();
    let f = 2.0
        * std::f64::consts::PI.powi(2)
        * (std::f64::consts::PI * x[0]).sin()
        * (std::f64::consts::PI * x[1]).sin();
    let expected = (-lap - f).powi(2) + u_of(net, xb).powi(2);
    close(net.loss_slice(&input, &[]), expected, 1e-5, "PINN loss");
    // The parameter gradient (the derivative of the derivative) against finite
    // differences of the loss.
    let mut g = vec![0.0; M::NUM_PARAMS];
    net.gradient_into_slice(&input, &[], &mut g);
    let h = 1e-6;
    for (p, gp) in g.iter().enumerate() {
        let (mut a, mut b) = (net.clone(), net.clone());
        a.params_mut()[p] += h;
        b.params_mut()[p] -= h;
        let fd = (a.loss_slice(&input, &[]) - b.loss_slice(&input, &[])) / (2.0 * h);
        close(*gp, fd, 1e-6, "PINN gradient");
    }
}

#[test]
fn laplacian_and_its_parameter_gradient_are_exact_in_both_tiers() {
    let a = Poisson::new();
    let b = PoissonWide::from_params(a.params);
    check_poisson(&a);
    check_poisson(&b);
    let input = [0.3, 0.6, 0.0, 0.4];
    let (la, ga) = a.gradient(&input, &[]);
    let (lb, gb) = b.gradient(&input, &[]);
    close(la, lb, 1e-10, "tiers: loss");
    for (x, y) in ga.iter().zip(&gb) {
        close(*x, *y, 1e-10, "tiers: gradient");
    }
    const { assert!(!Poisson::HAS_DERIVATIVE_METHODS) };
}

/// The block path (what `Trainer` and full-batch loops call) equals the sum of the
/// one-sample gradients, in both tiers, over 37 samples (whole blocks and a tail).
fn check_batch<M: Model<Float = f64>>(net: &M) {
    let n = 37;
    let inputs: Vec<f64> = (0..n * M::NUM_INPUTS)
        .map(|k| ((k * 37 % 101) as f64) / 101.0)
        .collect();
    let mut batch = vec![0.0; M::NUM_PARAMS];
    let loss = net.accumulate_gradient_batch_slice(&inputs, &[], &mut batch);
    let mut single = vec![0.0; M::NUM_PARAMS];
    let mut total = 0.0;
    for x in inputs.chunks(M::NUM_INPUTS) {
        total += net.accumulate_gradient_slice(x, &[], &mut single);
    }
    close(loss, total, 1e-10, "batch loss");
    for (a, b) in batch.iter().zip(&single) {
        close(*a, *b, 1e-9, "batch gradient");
    }
}

/// (On a test thread's 2 MiB stack: the block's frame is bounded, in debug builds
/// too; see `emit/batch.rs`, `block_stack`.)
#[test]
fn pinn_batches_match_one_sample_gradients() {
    let a = Poisson::new();
    check_batch(&a);
    check_batch(&PoissonWide::from_params(a.params));
}

network! {
    /// `diff` with respect to a `fn` parameter inside its body, a Jacobian, a
    /// parameter element and nesting.
    pub struct Forms {
        input x[2];
        param a = 0.7, w[2] = [0.4, -0.9];
        fn g(z[2]) = sin(a * z[0]) * exp(w[1] * z[1]) + w[0] * z[0] * z[1];
        fn grad_g(z[2]) = diff(g(z), z);
        fn curvature(s) = diff(diff(s * s * s * a, s), s);
        output y = [grad_g(x)[0], grad_g(x)[1], diff(g(x), x[0]), diff(g(x), a), curvature(x[1])];
        loss = sq(diff(g(x), x[1])) + sum(diff([g(x), x[0] * x[1]], x)[1]) + diff(g(x), w[0]);
    }
}

#[test]
fn fn_parameters_elements_nesting_and_jacobians() {
    let net = Forms::new();
    let x = [0.5, 0.8];
    let (a, w0, w1) = (0.7, 0.4, -0.9);
    let y = net.forward(&x);
    let dg0 = a * (a * x[0]).cos() * (w1 * x[1]).exp() + w0 * x[1];
    let dg1 = (a * x[0]).sin() * w1 * (w1 * x[1]).exp() + w0 * x[0];
    close(y[0], dg0, 1e-14, "grad_g[0]");
    close(y[1], dg1, 1e-14, "grad_g[1]");
    close(y[2], dg0, 1e-14, "diff wrt x[0]");
    close(
        y[3],
        x[0] * (a * x[0]).cos() * (w1 * x[1]).exp(),
        1e-14,
        "diff wrt a",
    );
    close(y[4], 6.0 * x[1] * a, 1e-14, "nested, scalar fn parameter");
    // Jacobian of [g, x0 x1] wrt x, row 1 = [x1, x0]; diff wrt w[0] = x0 x1.
    let expected = dg1 * dg1 + (x[1] + x[0]) + x[0] * x[1];
    close(net.loss(&x, &[]), expected, 1e-14, "loss");
}
