//! The linearisation behind `examples/control.rs`: a pendulum's RK4 step written as a
//! network, whose symbolic `input_jacobian` must equal (a) the closed form the example
//! uses as its "true linearisation" at the upright equilibrium (the RK4 polynomial of
//! the linearised vector field) and (b) central differences of a plain-Rust RK4 step
//! away from the equilibrium.

use symnn::network;

network! {
    /// One RK4 step of θ'' = g sin θ − c θ' + u (m = l = 1), h = 0.05; inputs (θ, ω, u).
    pub struct PendulumRk4 {
        input x[3];
        target t[2];
        param g = 9.81, c = 0.1;
        let a1 = x[1];
        let b1 = g * sin(x[0]) - c * x[1] + x[2];
        let a2 = x[1] + 0.025 * b1;
        let b2 = g * sin(x[0] + 0.025 * a1) - c * (x[1] + 0.025 * b1) + x[2];
        let a3 = x[1] + 0.025 * b2;
        let b3 = g * sin(x[0] + 0.025 * a2) - c * (x[1] + 0.025 * b2) + x[2];
        let a4 = x[1] + 0.05 * b3;
        let b4 = g * sin(x[0] + 0.05 * a3) - c * (x[1] + 0.05 * b3) + x[2];
        output y = [x[0] + 0.05 / 6.0 * (a1 + 2.0 * a2 + 2.0 * a3 + a4),
                    x[1] + 0.05 / 6.0 * (b1 + 2.0 * b2 + 2.0 * b3 + b4)];
        loss = mse(y, t);
    }
}

const G: f64 = 9.81;
const C: f64 = 0.1;
const H: f64 = 0.05;

fn rk4_step(s: [f64; 2], u: f64) -> [f64; 2] {
    let f = |s: [f64; 2]| [s[1], G * s[0].sin() - C * s[1] + u];
    let at = |k: [f64; 2], h: f64| [s[0] + h * k[0], s[1] + h * k[1]];
    let k1 = f(s);
    let k2 = f(at(k1, H / 2.0));
    let k3 = f(at(k2, H / 2.0));
    let k4 = f(at(k3, H));
    [
        s[0] + H / 6.0 * (k1[0] + 2.0 * k2[0] + 2.0 * k3[0] + k4[0]),
        s[1] + H / 6.0 * (k1[1] + 2.0 * k2[1] + 2.0 * k3[1] + k4[1]),
    ]
}

fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol,
        "{what}: {a} vs {b} (tolerance {tol:e})"
    );
}

#[test]
fn forward_is_the_rk4_step() {
    let net = PendulumRk4::new();
    for &(th, om, u) in &[(0.0, 0.0, 0.0), (0.3, -0.7, 2.0), (-0.9, 3.1, -12.0)] {
        let y = net.forward(&[th, om, u]);
        let r = rk4_step([th, om], u);
        assert_close(y[0], r[0], 1e-14, "θ'");
        assert_close(y[1], r[1], 1e-13, "ω'");
    }
}

#[test]
fn jacobian_at_upright_is_the_rk4_polynomial() {
    let jac = PendulumRk4::new().input_jacobian(&[0.0, 0.0, 0.0]);
    // hA for the linearised field, then A = Σ_{k≤4} (hA)^k/k!, B = h Σ_{k≤3} (hA)^k/(k+1)! e₂.
    let ha = [[0.0, H], [H * G, -H * C]];
    let mul = |p: [[f64; 2]; 2], q: [[f64; 2]; 2]| {
        let mut r = [[0.0; 2]; 2];
        for i in 0..2 {
            for j in 0..2 {
                r[i][j] = p[i][0] * q[0][j] + p[i][1] * q[1][j];
            }
        }
        r
    };
    let (mut a, mut bp, mut power, mut fact) = (
        [[1.0, 0.0], [0.0, 1.0]],
        [[1.0, 0.0], [0.0, 1.0]],
        [[1.0, 0.0], [0.0, 1.0]],
        1.0,
    );
    for k in 1..=4 {
        power = mul(power, ha);
        fact *= k as f64;
        for i in 0..2 {
            for j in 0..2 {
                a[i][j] += power[i][j] / fact;
                if k <= 3 {
                    bp[i][j] += power[i][j] / (fact * (k + 1) as f64);
                }
            }
        }
    }
    for o in 0..2 {
        for i in 0..2 {
            assert_close(jac[o][i], a[o][i], 1e-14, &format!("A[{o}][{i}]"));
        }
        assert_close(jac[o][2], H * bp[o][1], 1e-15, &format!("B[{o}]"));
    }
}

#[test]
fn jacobian_away_from_upright_matches_differences() {
    let net = PendulumRk4::new();
    let z = [0.6, -1.3, 4.0];
    let jac = net.input_jacobian(&z);
    let h = 1e-6;
    for i in 0..3 {
        let (mut zp, mut zm) = (z, z);
        zp[i] += h;
        zm[i] -= h;
        let (p, m) = (
            rk4_step([zp[0], zp[1]], zp[2]),
            rk4_step([zm[0], zm[1]], zm[2]),
        );
        for o in 0..2 {
            assert_close(
                jac[o][i],
                (p[o] - m[o]) / (2.0 * h),
                1e-8,
                &format!("∂y{o}/∂x{i}"),
            );
        }
    }
}
