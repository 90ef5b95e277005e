//! Seed 000: a 1-2-1 ReLU network with a bias input (`x = [1, x1]`) and a bias unit in the
//! hidden layer (`h = [1, relu(W[0]·x), relu(W[1]·x)]`), trained on the notebook's
//! `MSE(A, B) = (1/2) * mean((A - B)^2)`.
//!
//! The references below are the SymPy notebook's printed `Piecewise` results, transcribed
//! by hand into plain Rust (branch conditions included, first matching branch wins, exactly
//! like `Piecewise`). Nothing here computes an expected value with the generated code.
//!
//! Notation used in the notebook output: `a = w11 + w12*x1`, `b = w21 + w22*x1`.
//!
//! One known, deliberate difference: the notebook's `ReLU` is
//! `Piecewise((0, x < 0), (x, x >= 0))`, so its derivative at exactly 0 takes the active
//! branch, while symnn defines `relu'(0) = 0` (SPEC §1). The notebook comparison therefore
//! uses points where no pre-activation is exactly zero; `relu_kink_follows_spec` pins the
//! symnn convention separately.
// The notebook's `-1.0*alpha*...` and `1.0*(...)` factors are kept verbatim.
#![allow(clippy::neg_multiply)]

use symnn::network;

network! {
    /// The notebook's 1-2-1 ReLU net: bias input, bias hidden unit, half-MSE.
    pub struct Seed000 {
        input x1;
        target y_t;
        param W[2][2], u[3];
        let x = [1.0, x1];
        let h = [1.0, relu(dot(W[0], x)), relu(dot(W[1], x))];
        output y = dot(u, h);
        loss = 0.5 * mse([y_t], [y]);
    }
}

/// One evaluation point: parameters in the notebook's naming, plus x1, y_t, alpha.
#[derive(Clone, Copy, Debug)]
struct Point {
    w11: f64,
    w12: f64,
    w21: f64,
    w22: f64,
    u11: f64,
    u12: f64,
    u13: f64,
    x1: f64,
    y_t: f64,
    alpha: f64,
}

impl Point {
    /// `Seed000::params` is declaration order, row-major: W[0][0], W[0][1], W[1][0],
    /// W[1][1], u[0], u[1], u[2].
    fn params(&self) -> [f64; 7] {
        [
            self.w11, self.w12, self.w21, self.w22, self.u11, self.u12, self.u13,
        ]
    }
}

/// The notebook's value point (`values = {...}` cell), with a target and step size added.
const NOTEBOOK: Point = Point {
    w11: 0.5,
    w12: -0.3,
    w21: 0.8,
    w22: 0.2,
    u11: 0.1,
    u12: -0.4,
    u13: 0.6,
    x1: 1.0,
    y_t: 1.0,
    alpha: 0.1,
};

/// Points covering all four ReLU activity patterns (a = w11 + w12*x1, b = w21 + w22*x1).
fn points() -> Vec<(&'static str, Point)> {
    vec![
        ("notebook values, both active", NOTEBOOK),
        (
            "both active, negative x1",
            Point {
                w11: 0.3,
                w12: -0.7,
                w21: -0.2,
                w22: -1.1,
                u11: -0.25,
                u12: 1.3,
                u13: 0.45,
                x1: -0.8, // a = 0.86, b = 0.68
                y_t: -0.4,
                alpha: 0.05,
            },
        ),
        (
            "first ReLU inactive",
            Point {
                x1: 2.0, // a = 0.5 - 0.6*2 = -0.7, b = 0.8 + 0.4 = 1.2
                w12: -0.6,
                y_t: 0.3,
                ..NOTEBOOK
            },
        ),
        (
            "second ReLU inactive",
            Point {
                w21: -0.9, // a = 0.2, b = -0.7
                y_t: -1.5,
                alpha: 0.7,
                ..NOTEBOOK
            },
        ),
        (
            "both ReLUs inactive",
            Point {
                w11: -0.5, // a = -0.8
                w21: -1.3, // b = -1.1
                y_t: 2.0,
                alpha: 0.25,
                ..NOTEBOOK
            },
        ),
        (
            "both active, large values",
            Point {
                w11: 1.7,
                w12: 2.5,
                w21: -3.0,
                w22: 4.0,
                u11: 0.9,
                u12: -2.2,
                u13: 1.6,
                x1: 1.5, // a = 5.45, b = 3.0
                y_t: 0.0,
                alpha: 0.01,
            },
        ),
    ]
}

/// `display(sp.simplify(loss.diff(u)))`, transcribed.
fn notebook_dl_du(p: &Point) -> [f64; 3] {
    let Point {
        w11,
        w12,
        w21,
        w22,
        u11,
        u12,
        u13,
        x1,
        y_t,
        ..
    } = *p;
    let du11 = if (w11 + w12 * x1 < 0.0) && (w21 + w22 * x1 < 0.0) {
        1.0 * (u11 - y_t)
    } else if w11 + w12 * x1 < 0.0 {
        1.0 * (u11 + u13 * (w21 + w22 * x1) - y_t)
    } else if w21 + w22 * x1 < 0.0 {
        1.0 * (u11 + u12 * (w11 + w12 * x1) - y_t)
    } else {
        1.0 * (u11 + u12 * (w11 + w12 * x1) + u13 * (w21 + w22 * x1) - y_t)
    };
    let du12 = if w11 + w12 * x1 < 0.0 {
        0.0
    } else if w21 + w22 * x1 < 0.0 {
        1.0 * (w11 + w12 * x1) * (u11 + u12 * (w11 + w12 * x1) - y_t)
    } else {
        1.0 * (w11 + w12 * x1) * (u11 + u12 * (w11 + w12 * x1) + u13 * (w21 + w22 * x1) - y_t)
    };
    let du13 = if (w11 + w12 * x1 < 0.0) && (w21 + w22 * x1 < 0.0) {
        0.0
    } else if w11 + w12 * x1 < 0.0 {
        1.0 * (w21 + w22 * x1) * (u11 + u13 * (w21 + w22 * x1) - y_t)
    } else if w21 + w22 * x1 < 0.0 {
        0.0
    } else {
        1.0 * (w21 + w22 * x1) * (u11 + u12 * (w11 + w12 * x1) + u13 * (w21 + w22 * x1) - y_t)
    };
    [du11, du12, du13]
}

/// `display(sp.simplify(loss.diff(W)))`, transcribed; row-major [w11, w12, w21, w22].
fn notebook_dl_dw(p: &Point) -> [f64; 4] {
    let Point {
        w11,
        w12,
        w21,
        w22,
        u11,
        u12,
        u13,
        x1,
        y_t,
        ..
    } = *p;
    let dw11 = if w11 + w12 * x1 < 0.0 {
        0.0
    } else if w21 + w22 * x1 < 0.0 {
        1.0 * u12 * (u11 + u12 * (w11 + w12 * x1) - y_t)
    } else {
        1.0 * u12 * (u11 + u12 * (w11 + w12 * x1) + u13 * (w21 + w22 * x1) - y_t)
    };
    let dw12 = if w11 + w12 * x1 < 0.0 {
        0.0
    } else if w21 + w22 * x1 < 0.0 {
        1.0 * u12 * x1 * (u11 + u12 * (w11 + w12 * x1) - y_t)
    } else {
        1.0 * u12 * x1 * (u11 + u12 * (w11 + w12 * x1) + u13 * (w21 + w22 * x1) - y_t)
    };
    let dw21 = if (w11 + w12 * x1 < 0.0) && (w21 + w22 * x1 < 0.0) {
        0.0
    } else if w11 + w12 * x1 < 0.0 {
        1.0 * u13 * (u11 + u13 * (w21 + w22 * x1) - y_t)
    } else if w21 + w22 * x1 < 0.0 {
        0.0
    } else {
        1.0 * u13 * (u11 + u12 * (w11 + w12 * x1) + u13 * (w21 + w22 * x1) - y_t)
    };
    let dw22 = if (w11 + w12 * x1 < 0.0) && (w21 + w22 * x1 < 0.0) {
        0.0
    } else if w11 + w12 * x1 < 0.0 {
        1.0 * u13 * x1 * (u11 + u13 * (w21 + w22 * x1) - y_t)
    } else if w21 + w22 * x1 < 0.0 {
        0.0
    } else {
        1.0 * u13 * x1 * (u11 + u12 * (w11 + w12 * x1) + u13 * (w21 + w22 * x1) - y_t)
    };
    [dw11, dw12, dw21, dw22]
}

/// `W_new = W - lr * loss.diff(W)` as displayed (after `subs(...).doit()` and `simplify`).
fn notebook_w_new(p: &Point) -> [f64; 4] {
    let Point {
        w11,
        w12,
        w21,
        w22,
        u11,
        u12,
        u13,
        x1,
        y_t,
        alpha,
    } = *p;
    let w11n = if w11 + w12 * x1 < 0.0 {
        w11
    } else if w21 + w22 * x1 < 0.0 {
        -1.0 * alpha * u12 * (u11 + u12 * (w11 + w12 * x1) - y_t) + w11
    } else {
        -1.0 * alpha * u12 * (u11 + u12 * (w11 + w12 * x1) + u13 * (w21 + w22 * x1) - y_t) + w11
    };
    let w12n = if w11 + w12 * x1 < 0.0 {
        w12
    } else if w21 + w22 * x1 < 0.0 {
        -1.0 * alpha * u12 * x1 * (u11 + u12 * (w11 + w12 * x1) - y_t) + w12
    } else {
        -1.0 * alpha * u12 * x1 * (u11 + u12 * (w11 + w12 * x1) + u13 * (w21 + w22 * x1) - y_t)
            + w12
    };
    let w21n = if (w11 + w12 * x1 < 0.0) && (w21 + w22 * x1 < 0.0) {
        w21
    } else if w11 + w12 * x1 < 0.0 {
        -1.0 * alpha * u13 * (u11 + u13 * (w21 + w22 * x1) - y_t) + w21
    } else if w21 + w22 * x1 < 0.0 {
        w21
    } else {
        -1.0 * alpha * u13 * (u11 + u12 * (w11 + w12 * x1) + u13 * (w21 + w22 * x1) - y_t) + w21
    };
    let w22n = if (w11 + w12 * x1 < 0.0) && (w21 + w22 * x1 < 0.0) {
        w22
    } else if w11 + w12 * x1 < 0.0 {
        -1.0 * alpha * u13 * x1 * (u11 + u13 * (w21 + w22 * x1) - y_t) + w22
    } else if w21 + w22 * x1 < 0.0 {
        w22
    } else {
        -1.0 * alpha * u13 * x1 * (u11 + u12 * (w11 + w12 * x1) + u13 * (w21 + w22 * x1) - y_t)
            + w22
    };
    [w11n, w12n, w21n, w22n]
}

/// The notebook's `sp.cse(W_new)` output ("Substitutions" + "Simplified Expression"),
/// transcribed literally: a third, differently-shaped reference for `W_new`.
fn notebook_w_new_cse(p: &Point) -> [f64; 4] {
    let Point {
        w11,
        w12,
        w21,
        w22,
        u11,
        u12,
        u13,
        x1,
        y_t,
        alpha,
    } = *p;
    let x0 = w11 + w12 * x1;
    let x2 = x0 < 0.0;
    let x3 = w21 + w22 * x1;
    let x4 = x3 < 0.0;
    let x5 = x2 & (x2 | x4);
    let x6 = u11 - y_t;
    let x7 = u12 * x0 + x6;
    let x8 = 2.0 * u12;
    let x9 = x7 * x8;
    let x10 = u13 * x3;
    let x11 = x10 + x7;
    let x12 = x11 * x8;
    let x13 = 0.5 * alpha;
    let x14 = x2 & x4;
    let x15 = 2.0 * u13;
    let x16 = x15 * (x10 + x6);
    let x17 = x11 * x15;
    let pw = |branches: &[(f64, bool)]| -> f64 {
        branches
            .iter()
            .find(|&&(_, cond)| cond)
            .map(|&(v, _)| v)
            .expect("Piecewise ends with a True branch")
    };
    [
        w11 - x13 * pw(&[(0.0, x5), (x9, x4), (x12, true)]),
        w12 - x13 * pw(&[(0.0, x5), (x1 * x9, x4), (x1 * x12, true)]),
        w21 - x13 * pw(&[(0.0, x14), (x16, x2), (0.0, x4), (x17, true)]),
        w22 - x13 * pw(&[(0.0, x14), (x1 * x16, x2), (0.0, x4), (x1 * x17, true)]),
    ]
}

/// `u_new = u - lr * loss.diff(u)` as displayed.
fn notebook_u_new(p: &Point) -> [f64; 3] {
    let Point {
        w11,
        w12,
        w21,
        w22,
        u11,
        u12,
        u13,
        x1,
        y_t,
        alpha,
    } = *p;
    let u11n = if (w11 + w12 * x1 < 0.0) && (w21 + w22 * x1 < 0.0) {
        -1.0 * alpha * (u11 - y_t) + u11
    } else if w11 + w12 * x1 < 0.0 {
        -1.0 * alpha * (u11 + u13 * (w21 + w22 * x1) - y_t) + u11
    } else if w21 + w22 * x1 < 0.0 {
        -1.0 * alpha * (u11 + u12 * (w11 + w12 * x1) - y_t) + u11
    } else {
        -1.0 * alpha * (u11 + u12 * (w11 + w12 * x1) + u13 * (w21 + w22 * x1) - y_t) + u11
    };
    let u12n = if w11 + w12 * x1 < 0.0 {
        u12
    } else if w21 + w22 * x1 < 0.0 {
        -1.0 * alpha * (w11 + w12 * x1) * (u11 + u12 * (w11 + w12 * x1) - y_t) + u12
    } else {
        -1.0 * alpha
            * (w11 + w12 * x1)
            * (u11 + u12 * (w11 + w12 * x1) + u13 * (w21 + w22 * x1) - y_t)
            + u12
    };
    let u13n = if (w11 + w12 * x1 < 0.0) && (w21 + w22 * x1 < 0.0) {
        u13
    } else if w11 + w12 * x1 < 0.0 {
        -1.0 * alpha * (w21 + w22 * x1) * (u11 + u13 * (w21 + w22 * x1) - y_t) + u13
    } else if w21 + w22 * x1 < 0.0 {
        u13
    } else {
        -1.0 * alpha
            * (w21 + w22 * x1)
            * (u11 + u12 * (w11 + w12 * x1) + u13 * (w21 + w22 * x1) - y_t)
            + u13
    };
    [u11n, u12n, u13n]
}

/// The forward pass and the notebook's `MSE` written out by hand (no `Piecewise` needed:
/// `ReLU` is `max(x, 0)` in value).
fn by_hand_y_and_loss(p: &Point) -> (f64, f64) {
    let h1 = (p.w11 * 1.0 + p.w12 * p.x1).max(0.0);
    let h2 = (p.w21 * 1.0 + p.w22 * p.x1).max(0.0);
    let y = p.u11 * 1.0 + p.u12 * h1 + p.u13 * h2;
    let loss = (1.0 / 2.0) * ((p.y_t - y) * (p.y_t - y)) / 1.0 / 1.0;
    (y, loss)
}

#[track_caller]
fn assert_close(what: &str, got: f64, want: f64) {
    let tol = 1e-12 * want.abs().max(1.0);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:e}, notebook formula gives {want:e} (diff {:e})",
        got - want
    );
}

#[test]
fn param_layout_is_declaration_order_row_major() {
    assert_eq!(
        Seed000::PARAM_NAMES,
        ["W[0][0]", "W[0][1]", "W[1][0]", "W[1][1]", "u[0]", "u[1]", "u[2]"]
    );
    assert_eq!(Seed000::param_index("W[1][0]"), Some(2));
    assert_eq!(Seed000::param_index("u[2]"), Some(6));
    assert_eq!(Seed000::param_index("w11"), None);
    assert_eq!(
        (
            Seed000::NUM_INPUTS,
            Seed000::NUM_TARGETS,
            Seed000::NUM_OUTPUTS
        ),
        (1, 1, 1)
    );
}

#[test]
fn notebook_values_give_h_and_y() {
    // The notebook's last cell: h = [1, 0.2, 1.0] (both pre-activations positive), so
    // y = 0.1*1 + (-0.4)*0.2 + 0.6*1.0 = 0.62.
    let net = Seed000::from_params(NOTEBOOK.params());
    let y = net.forward(&[NOTEBOOK.x1])[0];
    assert!((y - 0.62).abs() < 1e-15, "y = {y}");
    // Half-MSE against y_t = 1: 0.5 * 0.38^2 = 0.0722.
    let loss = net.loss(&[NOTEBOOK.x1], &[1.0]);
    assert!((loss - 0.0722).abs() < 1e-15, "loss = {loss}");
}

#[test]
fn forward_and_loss_match_hand_evaluation() {
    for (name, p) in points() {
        let net = Seed000::from_params(p.params());
        let (y, loss) = by_hand_y_and_loss(&p);
        assert_close(&format!("{name}: y"), net.forward(&[p.x1])[0], y);
        assert_close(&format!("{name}: loss"), net.loss(&[p.x1], &[p.y_t]), loss);
    }
}

#[test]
fn gradient_matches_notebook_piecewise_formulas() {
    for (name, p) in points() {
        let net = Seed000::from_params(p.params());
        let (loss, grad) = net.gradient(&[p.x1], &[p.y_t]);
        assert_close(&format!("{name}: loss"), loss, by_hand_y_and_loss(&p).1);
        let dw = notebook_dl_dw(&p);
        let du = notebook_dl_du(&p);
        for (k, want) in dw.iter().chain(du.iter()).enumerate() {
            let what = format!("{name}: dL/d{}", Seed000::PARAM_NAMES[k]);
            assert_close(&what, grad[k], *want);
        }
    }
}

#[test]
fn inactive_relus_zero_exactly_the_notebook_branches() {
    // Pattern checks independent of the numbers: which gradient entries vanish.
    let first_off = points()[2].1;
    let grad = Seed000::from_params(first_off.params())
        .gradient(&[first_off.x1], &[first_off.y_t])
        .1;
    assert_eq!(
        (grad[0], grad[1], grad[5]),
        (0.0, 0.0, 0.0),
        "dW[0][*], du12 vanish"
    );
    assert!(grad[2] != 0.0 && grad[3] != 0.0 && grad[6] != 0.0);

    let both_off = points()[4].1;
    let grad = Seed000::from_params(both_off.params())
        .gradient(&[both_off.x1], &[both_off.y_t])
        .1;
    assert_eq!(&grad[..4], &[0.0; 4]);
    assert_eq!((grad[5], grad[6]), (0.0, 0.0));
    // Only the bias weight u11 still learns: dL/du11 = u11 - y_t.
    assert_close("dL/du11", grad[4], both_off.u11 - both_off.y_t);
}

#[test]
fn sgd_step_matches_notebook_update_formulas() {
    for (name, p) in points() {
        let mut net = Seed000::from_params(p.params());
        let returned = net.sgd_step(&[p.x1], &[p.y_t], p.alpha);
        assert_close(
            &format!("{name}: loss returned by sgd_step"),
            returned,
            by_hand_y_and_loss(&p).1,
        );
        let w_new = notebook_w_new(&p);
        let w_new_cse = notebook_w_new_cse(&p);
        let u_new = notebook_u_new(&p);
        for k in 0..4 {
            let what = format!("{name}: W_new {}", Seed000::PARAM_NAMES[k]);
            assert_close(&what, net.params[k], w_new[k]);
            assert_close(&format!("{what} (cse form)"), net.params[k], w_new_cse[k]);
        }
        for (k, want) in u_new.iter().enumerate() {
            let what = format!("{name}: u_new {}", Seed000::PARAM_NAMES[4 + k]);
            assert_close(&what, net.params[4 + k], *want);
        }
    }
}

#[test]
fn repeated_steps_follow_the_notebook_update() {
    // Iterate the notebook's W_new/u_new map by hand and the generated sgd_step side by
    // side. From this start the second hidden unit is pushed below zero by the first
    // step, so both the "all active" and the "second ReLU inactive" branches are used.
    let mut p = Point {
        y_t: -3.0,
        alpha: 0.3,
        ..NOTEBOOK
    };
    let mut net = Seed000::from_params(p.params());
    let mut saw_second_inactive = false;
    for step in 0..50 {
        net.sgd_step(&[p.x1], &[p.y_t], p.alpha);
        let [w11, w12, w21, w22] = notebook_w_new(&p);
        let [u11, u12, u13] = notebook_u_new(&p);
        p = Point {
            w11,
            w12,
            w21,
            w22,
            u11,
            u12,
            u13,
            ..p
        };
        saw_second_inactive |= p.w21 + p.w22 * p.x1 < 0.0;
        for (k, want) in p.params().iter().enumerate() {
            let what = format!("step {step}: {}", Seed000::PARAM_NAMES[k]);
            assert!(
                (net.params[k] - want).abs() <= 1e-10 * want.abs().max(1.0),
                "{what}: got {}, want {want}",
                net.params[k]
            );
        }
    }
    assert!(
        saw_second_inactive,
        "the trajectory should cross the ReLU kink"
    );
    // Training actually fit the single example.
    let (y, _) = by_hand_y_and_loss(&p);
    assert!((y - p.y_t).abs() < 1e-3, "y after 50 steps = {y}");
}

#[test]
fn relu_kink_follows_spec() {
    // At a = w11 + w12*x1 = 0 exactly the notebook's Piecewise picks the active branch
    // (condition `a < 0` is false), giving dL/dw11 = u12 * (y - y_t). symnn uses
    // relu'(0) = 0 instead (SPEC §1), so the W[0] row gets no gradient there.
    let p = Point {
        w11: 0.5,
        w12: -0.5,
        x1: 1.0,
        ..NOTEBOOK
    };
    let grad = Seed000::from_params(p.params())
        .gradient(&[p.x1], &[p.y_t])
        .1;
    assert_eq!((grad[0], grad[1]), (0.0, 0.0));
    let notebook = notebook_dl_dw(&p);
    assert!(notebook[0] != 0.0, "the notebook's formula is active at 0");
    // The second hidden unit and u are unaffected by the convention.
    assert_close("dW[1][0]", grad[2], notebook[2]);
    assert_close("du[0]", grad[4], notebook_dl_du(&p)[0]);
}
