//! Generates the networks of the differential test: random programs from a fixed seed
//! that together use the whole DSL, plus hand-written ones (the no-panic fuzzer's valid
//! seeds and a large dense net). Writes `$OUT_DIR/nets.rs`: one `symnn::network!` per
//! program, its `erase!` adapter and the table `CASES` linking struct, source, code and
//! the targets that are class indices (of `sparse_cross_entropy`), which the test sets
//! to integers in range (mostly) rather than random floats.
//!
//! Every program is run through `symnn_codegen::derive` here first, so a generator bug
//! fails the build with the engine's error and the program text.

use std::fmt::Write as _;
use std::str::FromStr;

/// Random networks (a fifth of them `f32`).
const RANDOM_NETWORKS: usize = 44;
const SEED: u64 = 0x5EED_D1FF;

/// Hand-written networks: the fuzzer's valid seeds, and one large enough (8-40-4 dense,
/// 524 parameters, >1000 gradient instructions) for the emitter's array/unfused paths.
const FIXED: &[&str] = &[
    "pub struct Seed003 {
        input x1, x2;
        target y;
        param w0 = 0.1, w13 = 0.2, w14 = 0.8, w23 = 0.6, w24 = 0.4, w35 = 0.1, w45 = 0.5;
        let f3 = sigmoid((x1 * w13 + w0) + (x2 * w23 + w0));
        let f4 = sigmoid((x1 * w14 + w0) + (x2 * w24 + w0));
        output f5 = sigmoid((f3 * w35 + w0) + (f4 * w45 + w0));
        loss = -(y * ln(f5) + (1.0 - y) * ln(1.0 - f5));
    }",
    "pub struct Mlp {
        type Float = f32;
        input x[2];
        target t[1];
        let h1 = dense(x, 8, tanh);
        let h2 = dense(h1, 8, tanh);
        output y = dense(h2, 1, identity);
        loss = mse(y, t);
    }",
    "pub struct Xor {
        input x[2];
        target t;
        let h = dense(x, 4, tanh);
        output y = sigmoid(dot(h, v) + c);
        param v[4], c = 0.0;
        loss = bce(y, t);
    }",
    "pub struct Loops {
        input x[4];
        let mut z = [0.0, 0.0, 0.0, 0.0];
        for i in 0..3 { z[i + 1] = z[i] + x[i]; }
        for _ in 0..=2 { z += 1.0; z *= 0.5; }
        for i in 0..2 { for j in 0..2 { z[i * 2 + j] -= i; } }
        output y = z;
        loss = sum(y);
    }",
    "pub struct Fns {
        fn s(u) = 1.0 / (1.0 + exp(-u));
        fn mix(a, b) = s(a) * b + w;
        input x[3];
        target t[2];
        param w = 0.5;
        let h = dense(x, 2, s);
        output y = mix(h, 2.0) + s(w);
        loss = mse(y, t);
    }",
    "pub struct Linear {
        input v[2];
        param m[2][2] = [[1.0, 0.5], [0.0, 1.0]], b[2] = 0.1, k[2][3] = 0.0;
        let a = m.T * v + b;
        let c = transpose(k) * a;
        let r = m[1] + m[0][1] * k[1][2];
        output y = [a[0].powi(2), a[1].max(r[0]), powi(c[2], -1), min(r[1], 0.0)];
        loss = sum(y) + mean(m * m);
    }",
    "pub struct Classifier {
        input x[3];
        target t[3];
        param w[3][3] = 0.1;
        let z = w * x;
        output p = softmax(z);
        loss = cross_entropy(z, t) + 0.01 * sum(w * w) + bce_logits(z, t) + bce(p, t);
    }",
    "pub struct Misc {
        input a, b[2];
        param s = 1.0;
        output y = leaky_relu(a, 0.1) + softplus(a) + sq(a) + pow(abs(a), 1.5) + sqrt(s * s) + sin(a) * cos(a)
            + relu(a) + log(exp(a)) + sum(log_softmax(b));
        loss = y;
    }",
    "pub struct Big {
        input x[8];
        target t[4];
        let h = dense(x, 40, tanh);
        output y = dense(h, 4, identity);
        loss = mse(y, t);
    }",
    "pub struct SparseClassifier {
        input x[3];
        target k;
        param w[4][3], b[4];
        let z = w * x + b;
        output p = softmax(z);
        loss = sparse_cross_entropy(z, k) + 0.01 * sum(sq(w));
    }",
    "pub struct BigF32 {
        type Float = f32;
        input x[8];
        target t[4];
        let h = dense(x, 40, sigmoid);
        output y = dense(h, 4, identity);
        loss = cross_entropy(y, t);
    }",
];

/// The class-index targets of the fixed networks: `(struct, target index, classes)`.
const FIXED_CLASS_TARGETS: &[(&str, usize, usize)] = &[("SparseClassifier", 0, 4)];

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn constant(&mut self) -> String {
        let c = (self.below(4001) as f64 - 2000.0) / 1000.0;
        if c < 0.0 {
            format!("({c:.3})")
        } else {
            format!("{c:.3}")
        }
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Sh {
    S,
    V(usize),
    M(usize, usize),
}

/// Random expressions of a requested shape over the names in scope.
struct Gen {
    rng: Rng,
    /// Names in scope with their shapes.
    vars: Vec<(String, Sh)>,
    /// Loop variables in scope and their largest value.
    loops: Vec<(String, usize)>,
    /// One-argument and two-argument `fn`s.
    fns1: Vec<String>,
    fns2: Vec<String>,
    /// `f32` networks avoid kinks (relu, abs, max, ...): f32 rounding near a kink could
    /// pick the other branch than the f64 interpreter.
    smooth: bool,
    /// Scalar forms used so far (coverage of the scalar grammar).
    used: [bool; SCALAR_FORMS],
}

const SCALAR_FORMS: usize = 38;

impl Gen {
    fn pick_var(&mut self, want: impl Fn(Sh) -> bool) -> Option<(String, Sh)> {
        let found: Vec<_> = self
            .vars
            .iter()
            .filter(|(_, s)| want(*s))
            .cloned()
            .collect();
        (!found.is_empty()).then(|| found[self.rng.below(found.len())].clone())
    }

    /// An index below `n`: a literal, or loop-variable arithmetic that stays in range.
    fn index(&mut self, n: usize) -> String {
        let fitting: Vec<_> = self
            .loops
            .iter()
            .filter(|(_, max)| *max < n)
            .cloned()
            .collect();
        if !fitting.is_empty() && self.rng.chance(60) {
            let (name, max) = fitting[self.rng.below(fitting.len())].clone();
            return match self.rng.below(3) {
                0 if max + 1 < n => format!("{name} + 1"),
                1 if max < n => format!("{} - {name}", n - 1),
                _ => name,
            };
        }
        self.rng.below(n).to_string()
    }

    fn expr(&mut self, sh: Sh, depth: usize) -> String {
        match sh {
            Sh::S => self.scalar(depth),
            Sh::V(n) => self.vector(n, depth),
            Sh::M(r, c) => self.matrix(r, c, depth),
        }
    }

    fn scalar_leaf(&mut self) -> String {
        for _ in 0..4 {
            match self.rng.below(8) {
                0..=2 => {
                    if let Some((name, _)) = self.pick_var(|s| s == Sh::S) {
                        return name;
                    }
                }
                3 | 4 => {
                    if let Some((name, Sh::V(n))) = self.pick_var(|s| matches!(s, Sh::V(_))) {
                        let i = self.index(n);
                        return format!("{name}[{i}]");
                    }
                }
                5 => {
                    if let Some((name, Sh::M(r, c))) = self.pick_var(|s| matches!(s, Sh::M(..))) {
                        let (i, j) = (self.index(r), self.index(c));
                        return format!("{name}[{i}][{j}]");
                    }
                }
                6 if !self.loops.is_empty() => {
                    // A loop variable as a number.
                    let k = self.rng.below(self.loops.len());
                    return format!("({} * 0.5)", self.loops[k].0);
                }
                _ => return self.rng.constant(),
            }
        }
        self.rng.constant()
    }

    fn scalar(&mut self, depth: usize) -> String {
        if depth == 0 || self.rng.chance(20) {
            return self.scalar_leaf();
        }
        // Prefer forms not used yet, so every network set covers the grammar.
        let mut form = self.rng.below(SCALAR_FORMS);
        if self.used[form] && self.rng.chance(50) {
            form = self.rng.below(SCALAR_FORMS);
        }
        let kinked = (23..=29).contains(&form);
        if (kinked && self.smooth)
            || (form == 30 && self.fns1.is_empty())
            || (form == 31 && self.fns2.is_empty())
        {
            form = 5;
        }
        self.used[form] = true;
        let d = depth - 1;
        let a = self.scalar(d);
        match form {
            0 => format!("({a} + {})", self.scalar(d)),
            1 => format!("({a} - {})", self.scalar(d)),
            2 => format!("({a} * {})", self.scalar(d)),
            3 => format!("({a} / (1.5 + sq({})))", self.scalar(d)),
            4 => format!("-({a})"),
            5 => format!("tanh({a})"),
            6 => format!("sigmoid({a})"),
            7 => format!("softplus({a})"),
            8 => format!("sin({a})"),
            9 => format!("cos({a})"),
            10 => format!("exp(tanh({a}))"),
            11 => format!("ln(1.0 + sq({a}))"),
            12 => format!("log(1.5 + sigmoid({a}))"),
            13 => format!("sqrt(1.0 + sq({a}))"),
            14 => format!("powi(tanh({a}), 3)"),
            15 => format!("powi(1.0 + sq({a}), -2)"),
            16 => format!("pow(1.5 + sq({a}), tanh({}))", self.scalar(d)),
            17 => format!("pow(1.5 + sq({a}), 0.7)"),
            18 => format!("identity({a})"),
            19 => format!("({a}).tanh()"),
            20 => format!("({a}).powi(2)"),
            21 => format!("(1.0 + ({a}).sq()).ln()"),
            22 => format!("({a}).sin()"),
            23 => format!("abs({a})"),
            24 => format!("relu({a})"),
            25 => format!("leaky_relu({a}, 0.1)"),
            26 => format!("max({a}, {})", self.scalar(d)),
            27 => format!("min({a}, {})", self.scalar(d)),
            28 => format!("({a}).max({})", self.scalar(d)),
            29 => format!("({a}).abs()"),
            30 => {
                let f = self.fns1[self.rng.below(self.fns1.len())].clone();
                format!("{f}({a})")
            }
            31 => {
                let f = self.fns2[self.rng.below(self.fns2.len())].clone();
                format!("{f}({a}, {})", self.scalar(d))
            }
            32 => {
                let n = 2 + self.rng.below(2);
                format!("({a} + sum({}))", self.vector(n, d))
            }
            33 => {
                let (r, c) = (2 + self.rng.below(2), 2 + self.rng.below(2));
                let m = if self.rng.chance(50) {
                    self.matrix(r, c, d)
                } else {
                    self.vector(r, d)
                };
                format!("({a} * mean({m}))")
            }
            34 => {
                let n = 2 + self.rng.below(2);
                format!("dot({}, {})", self.vector(n, d), self.vector(n, d))
            }
            35 => format!("exp(0.5 * tanh({a}))"),
            36 => format!("(({a}).sigmoid() + ({}).softplus())", self.scalar(d)),
            _ => format!("(1.5 + sq({a})).powi(-1).min(2.0).max(-2.0)"),
        }
    }

    fn vector_leaf(&mut self, n: usize) -> String {
        for _ in 0..3 {
            match self.rng.below(4) {
                0 | 1 => {
                    if let Some((name, _)) = self.pick_var(|s| s == Sh::V(n)) {
                        return name;
                    }
                }
                2 => {
                    if let Some((name, Sh::M(r, _))) =
                        self.pick_var(|s| matches!(s, Sh::M(_, c) if c == n))
                    {
                        let i = self.index(r);
                        return format!("{name}[{i}]");
                    }
                }
                _ => break,
            }
        }
        let items: Vec<String> = (0..n).map(|_| self.scalar_leaf()).collect();
        format!("[{}]", items.join(", "))
    }

    fn vector(&mut self, n: usize, depth: usize) -> String {
        if depth == 0 || self.rng.chance(25) {
            return self.vector_leaf(n);
        }
        let d = depth - 1;
        let k = 2 + self.rng.below(2);
        match self.rng.below(19) {
            0 => format!("({} + {})", self.vector(n, d), self.vector(n, d)),
            1 => format!("({} - {})", self.vector(n, d), self.vector(n, d)),
            2 => format!("({} * {})", self.vector(n, d), self.vector(n, d)),
            3 => format!("({} * {})", self.scalar(d), self.vector(n, d)),
            4 => format!("({} + {})", self.vector(n, d), self.scalar(d)),
            5 => format!(
                "({} / (1.5 + sq({})))",
                self.vector(n, d),
                self.vector(n, d)
            ),
            6 => format!("tanh({})", self.vector(n, d)),
            7 => format!("({}).sigmoid()", self.vector(n, d)),
            8 => format!("softmax({})", self.vector(n, d)),
            9 => format!("log_softmax({})", self.vector(n, d)),
            10 | 11 => format!("({} * {})", self.matrix(n, k, d), self.vector(k, d)),
            12 if !self.fns1.is_empty() => {
                let f = self.fns1[self.rng.below(self.fns1.len())].clone();
                format!("{f}({})", self.vector(n, d))
            }
            13 if !self.fns2.is_empty() => {
                // Two-argument fn with a scalar broadcast.
                let f = self.fns2[self.rng.below(self.fns2.len())].clone();
                format!("{f}({}, {})", self.vector(n, d), self.scalar(d))
            }
            14 if !self.smooth => format!("relu({})", self.vector(n, d)),
            15 if !self.smooth => format!("max({}, {})", self.vector(n, d), self.vector(n, d)),
            16 => {
                let items: Vec<String> = (0..n).map(|_| self.scalar(d)).collect();
                format!("[{}]", items.join(", "))
            }
            17 => format!("({}).powi(3)", self.vector(n, d)),
            _ => format!("sin({})", self.vector(n, d)),
        }
    }

    fn matrix_leaf(&mut self, r: usize, c: usize) -> String {
        if self.rng.chance(70) {
            if let Some((name, _)) = self.pick_var(|s| s == Sh::M(r, c)) {
                return name;
            }
            if let Some((name, _)) = self.pick_var(|s| s == Sh::M(c, r)) {
                return format!("{name}.T");
            }
        }
        let rows: Vec<String> = (0..r)
            .map(|_| {
                let items: Vec<String> = (0..c).map(|_| self.scalar_leaf()).collect();
                format!("[{}]", items.join(", "))
            })
            .collect();
        format!("[{}]", rows.join(", "))
    }

    fn matrix(&mut self, r: usize, c: usize, depth: usize) -> String {
        if depth == 0 || self.rng.chance(35) {
            return self.matrix_leaf(r, c);
        }
        let d = depth - 1;
        let k = 2 + self.rng.below(2);
        match self.rng.below(8) {
            0 => format!("({} + {})", self.matrix(r, c, d), self.matrix(r, c, d)),
            1 => format!("({} - {})", self.matrix(r, c, d), self.matrix(r, c, d)),
            2 => format!("({} * {})", self.matrix(r, k, d), self.matrix(k, c, d)),
            3 => format!("transpose({})", self.matrix(c, r, d)),
            4 => format!("({}).tanh()", self.matrix(r, c, d)),
            5 => format!("({} * {})", self.matrix(r, c, d), self.scalar(d)),
            6 => format!("({} * {})", self.scalar(d), self.matrix(r, c, d)),
            _ => format!("({}).T", self.matrix(c, r, d)),
        }
    }
}

fn random_shape(rng: &mut Rng) -> Sh {
    match rng.below(5) {
        0 => Sh::S,
        1 | 2 => Sh::V(2 + rng.below(2)),
        _ => Sh::M(2 + rng.below(2), 2 + rng.below(2)),
    }
}

fn decl(name: &str, sh: Sh) -> String {
    match sh {
        Sh::S => name.to_owned(),
        Sh::V(n) => format!("{name}[{n}]"),
        Sh::M(r, c) => format!("{name}[{r}][{c}]"),
    }
}

/// An initial value for a param of this shape (or none).
fn init(rng: &mut Rng, sh: Sh) -> String {
    match (rng.below(3), sh) {
        (0, _) => String::new(),
        (1, _) => format!(" = {}", rng.constant()),
        (_, Sh::S) => format!(" = {}", rng.constant()),
        (_, Sh::V(n)) => {
            let items: Vec<String> = (0..n).map(|_| rng.constant()).collect();
            format!(" = [{}]", items.join(", "))
        }
        (_, Sh::M(r, c)) => {
            let rows: Vec<String> = (0..r)
                .map(|_| {
                    let items: Vec<String> = (0..c).map(|_| rng.constant()).collect();
                    format!("[{}]", items.join(", "))
                })
                .collect();
            format!(" = [{}]", rows.join(", "))
        }
    }
}

/// One random network named `name`, and its class-index targets as
/// `(target index, number of classes)`.
fn network(rng: Rng, name: &str, f32: bool, variant: usize) -> (String, Rng, Vec<(usize, usize)>) {
    let mut g = Gen {
        rng,
        vars: Vec::new(),
        loops: Vec::new(),
        fns1: Vec::new(),
        fns2: Vec::new(),
        smooth: f32,
        used: [false; SCALAR_FORMS],
    };
    let mut body = String::new();
    if f32 {
        body.push_str("    type Float = f32;\n");
    }

    // Declarations: inputs and params of every shape (a random subset).
    let n = 2 + g.rng.below(2);
    let (r, c) = (2 + g.rng.below(2), 2 + g.rng.below(2));
    let mut inputs = Vec::new();
    for (nm, sh) in [("xs", Sh::S), ("xv", Sh::V(n)), ("xm", Sh::M(r, c))] {
        if inputs.is_empty() || g.rng.chance(60) {
            inputs.push(decl(nm, sh));
            g.vars.push((nm.to_owned(), sh));
        }
    }
    let mut params = Vec::new();
    for (nm, sh) in [
        ("ps", Sh::S),
        ("pv", Sh::V(n)),
        ("pm", Sh::M(r, c)),
        ("pw", Sh::M(c, n)),
    ] {
        if params.is_empty() || g.rng.chance(70) {
            let init = init(&mut g.rng, sh);
            params.push(format!("{}{init}", decl(nm, sh)));
            g.vars.push((nm.to_owned(), sh));
        }
    }

    // fns: a one-argument one, and (usually) a two-argument one calling it; their
    // bodies see their arguments and the global scalar param (if any).
    let globals = g.vars.clone();
    let has_ps = globals.iter().any(|(nm, _)| nm == "ps");
    if g.rng.chance(75) {
        g.vars = vec![("fu".to_owned(), Sh::S)];
        if has_ps {
            g.vars.push(("ps".to_owned(), Sh::S));
        }
        let mut e = g.scalar(2);
        if !e.contains("fu") {
            e = format!("{e} + tanh(fu)");
        }
        let _ = writeln!(body, "    fn fa(fu) = {e};");
        g.fns1.push("fa".to_owned());
        if g.rng.chance(70) {
            g.vars = vec![("fb1".to_owned(), Sh::S), ("fb2".to_owned(), Sh::S)];
            let e = g.scalar(1);
            let _ = writeln!(body, "    fn fb(fb1, fb2) = fa(fb1) * fb2 + {e};");
            g.fns2.push("fb".to_owned());
        }
        g.vars = globals;
    }
    let _ = writeln!(body, "    input {};", inputs.join(", "));
    let _ = writeln!(body, "    param {};", params.join(", "));

    // Statements.
    let mut bindings: Vec<(String, Sh)> = Vec::new();
    let statements = 2 + g.rng.below(4);
    for s in 0..statements {
        let kind = (variant + s * 3 + g.rng.below(2)) % 8;
        let name = format!("h{s}");
        match kind {
            0 => {
                let sh = random_shape(&mut g.rng);
                let e = g.expr(sh, 3);
                let _ = writeln!(body, "    let {name} = {e};");
                bindings.push((name.clone(), sh));
            }
            1 => {
                // dense with a builtin or fn activation.
                let k = 2 + g.rng.below(2);
                let x = g.vector(n, 2);
                let mut acts = vec!["tanh", "sigmoid", "softplus", "identity", "sin"];
                if !f32 {
                    acts.push("relu");
                }
                let fa = g.fns1.first().cloned();
                let act = match fa {
                    Some(f) if g.rng.chance(40) => f,
                    _ => acts[g.rng.below(acts.len())].to_owned(),
                };
                let _ = writeln!(body, "    let {name} = dense({x}, {k}, {act});");
                bindings.push((name.clone(), Sh::V(k)));
            }
            2 => {
                // Prefix-sum style loop with index arithmetic and compound assignment.
                let items: Vec<String> = (0..n).map(|_| g.scalar(1)).collect();
                let _ = writeln!(body, "    let mut {name} = [{}];", items.join(", "));
                g.vars.push((name.clone(), Sh::V(n)));
                g.loops.push(("i".to_owned(), n - 2));
                let e = g.scalar(2);
                let op = ["+=", "-=", "*=", "="][g.rng.below(4)];
                let _ = writeln!(
                    body,
                    "    for i in 0..{} {{ {name}[i + 1] {op} tanh({name}[i]) * {e}; }}",
                    n - 1
                );
                g.loops.clear();
                g.vars.pop();
                bindings.push((name.clone(), Sh::V(n)));
            }
            3 => {
                // Whole-binding reassignment in an inclusive loop with an unused variable.
                let sh = random_shape(&mut g.rng);
                let e = g.expr(sh, 2);
                let _ = writeln!(body, "    let mut {name} = {e};");
                g.vars.push((name.clone(), sh));
                let upd = g.expr(sh, 2);
                let step = match g.rng.below(5) {
                    0 => format!("{name} = tanh({name}) * 0.5 + {upd};"),
                    1 => format!("{name} += {upd};"),
                    2 => format!("{name} -= {upd};"),
                    // (`*=` on a matrix is a matrix product: elementwise only otherwise.)
                    3 if !matches!(sh, Sh::M(..)) => format!("{name} *= tanh({upd});"),
                    _ => format!("{name} /= 1.5 + sq({upd});"),
                };
                let _ = writeln!(body, "    for _ in 0..=1 {{ {step} }}");
                g.vars.pop();
                bindings.push((name.clone(), sh));
            }
            4 => {
                // Nested loops over a matrix, a `let` inside, the loop variable as a number.
                let _ = writeln!(body, "    let mut {name} = {};", g.matrix(r, c, 2));
                g.loops.push(("i".to_owned(), r - 1));
                let lv = format!("t{s}");
                g.loops.push(("j".to_owned(), c - 1));
                let e = g.scalar(2);
                let _ = writeln!(
                    body,
                    "    for i in 0..{r} {{ for j in 0..={} {{ let {lv} = {e}; {name}[i][{} - j] += {lv} * (i + j); }} }}",
                    c - 1,
                    c - 1
                );
                g.loops.clear();
                bindings.push((name.clone(), Sh::M(r, c)));
            }
            5 => {
                // A matrix row and a matrix product.
                let e = g.matrix(r, r, 3);
                let _ = writeln!(body, "    let {name} = {e};");
                bindings.push((name.clone(), Sh::M(r, r)));
            }
            6 => {
                // Scalar binding, reassigned and compound-assigned.
                let e = g.scalar(3);
                let _ = writeln!(body, "    let mut {name} = {e};");
                g.vars.push((name.clone(), Sh::S));
                let e = g.scalar(2);
                let _ = writeln!(body, "    {name} = {name} * {e};");
                let e = g.scalar(1);
                let _ = writeln!(body, "    {name} -= {e};");
                g.vars.pop();
                bindings.push((name.clone(), Sh::S));
            }
            _ => {
                let e = g.vector(n, 3);
                let _ = writeln!(body, "    let {name} = {e};");
                bindings.push((name.clone(), Sh::V(n)));
            }
        }
        g.vars
            .push((name, *bindings.last().map(|(_, s)| s).unwrap()));
    }

    // Output: a vector, scalar or matrix over everything so far (never a target).
    let out_sh = match variant % 4 {
        0 | 1 => Sh::V(n),
        2 => Sh::S,
        _ => Sh::M(r, c),
    };
    let out = g.expr(out_sh, 3);
    let _ = writeln!(body, "    output y = {out};");
    g.vars.push(("y".to_owned(), out_sh));

    // Targets and loss: one or two loss builtins, plus a term on every binding so
    // every statement reaches the gradient.
    let mut targets = vec![decl("ty", out_sh)];
    let mut terms = vec!["mse(y, ty)".to_owned()];
    let mut class_targets = Vec::new();
    match variant % 4 {
        0 => {
            targets.push(format!("tb[{n}]"));
            terms.push(format!("bce(sigmoid({}), tb)", g.vector(n, 2)));
        }
        1 => {
            targets.push(format!("tc[{n}]"));
            terms.push(format!("cross_entropy({}, tc)", g.vector(n, 2)));
            // A class index: target `tk` follows `ty` and `tc`.
            let ty_len = match out_sh {
                Sh::S => 1,
                Sh::V(m) => m,
                Sh::M(r, c) => r * c,
            };
            targets.push("tk".to_owned());
            class_targets.push((ty_len + n, n));
            let logits = g.vector(n, 2);
            terms.push(if g.rng.chance(50) {
                format!("sparse_cross_entropy({logits}, tk)")
            } else {
                format!("({logits}).sparse_cross_entropy(tk)")
            });
        }
        2 => {
            targets.push("tl".to_owned());
            terms.push(format!("bce_logits({}, tl)", g.vector(n, 2)));
        }
        _ => {
            targets.push(format!("tl[{n}]"));
            terms.push(format!("bce_logits({}, tl)", g.vector(n, 2)));
        }
    }
    for (b, sh) in &bindings {
        terms.push(match sh {
            Sh::S => format!("0.1 * {b}"),
            _ => format!("0.1 * mean({b})"),
        });
    }
    let _ = writeln!(body, "    target {};", targets.join(", "));
    let _ = writeln!(body, "    loss = {};", terms.join(" + "));
    (
        format!("pub struct {name} {{\n{body}}}"),
        g.rng,
        class_targets,
    )
}

fn struct_name(source: &str) -> String {
    let rest = source.split("struct ").nth(1).expect("struct");
    rest.split_whitespace().next().expect("name").to_owned()
}

/// Whether `source` calls `name` as a function (`name(`) or a method (`.name(`).
fn calls(source: &str, name: &str) -> bool {
    source.match_indices(&format!("{name}(")).any(|(at, _)| {
        !source[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Fails the build if the random networks stopped covering some part of the DSL.
fn assert_coverage(sources: &[(String, bool)]) {
    let random: Vec<&str> = sources[FIXED.len()..]
        .iter()
        .map(|(s, _)| s.as_str())
        .collect();
    // Every builtin of the engine's table (a new builtin fails the build until the
    // generator uses it), and the generated `fn`s.
    for name in symnn_codegen::builtins::names().chain(["fa", "fb"]) {
        assert!(
            random.iter().any(|s| calls(s, name)),
            "no random network calls `{name}`"
        );
    }
    for syntax in [
        "type Float = f32;",
        "fn fb(",
        "input xs, xv[",
        "xm[",
        "let mut",
        " += ",
        " -= ",
        " *= ",
        " /= ",
        " = tanh(",
        "[i + 1]",
        "for _ in 0..=",
        "for i in 0..",
        "let t",
        " * (i + j)",
        ".T",
        ").T",
        ".tanh()",
        ").max(",
        ").powi(",
        "] = [[",
        "] = [",
        ", fa);",
        "(i * 0.5)",
        "[i][",
    ] {
        assert!(
            random.iter().any(|s| s.contains(syntax)),
            "no random network contains `{syntax}`"
        );
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let mut sources: Vec<(String, bool)> = FIXED
        .iter()
        .map(|s| (s.to_string(), s.contains("f32")))
        .collect();
    let mut class_targets: Vec<Vec<(usize, usize)>> = FIXED
        .iter()
        .map(|s| {
            let name = struct_name(s);
            FIXED_CLASS_TARGETS
                .iter()
                .filter(|(n, ..)| *n == name)
                .map(|&(_, k, classes)| (k, classes))
                .collect()
        })
        .collect();
    let mut rng = Rng(SEED);
    for k in 0..RANDOM_NETWORKS {
        let f32 = k % 5 == 4;
        let (source, next, classes) = network(rng, &format!("Net{k}"), f32, k);
        rng = next;
        sources.push((source, f32));
        class_targets.push(classes);
    }

    assert_coverage(&sources);

    // Every network again through the tensor path (`tensor_threshold = 0`: every
    // array operation a tensor node, emitted as loops).
    let tensor_twins: Vec<(String, bool)> = sources
        .iter()
        .map(|(source, f32)| {
            let name = struct_name(source);
            let twin = source.replacen(&format!("struct {name} "), &format!("struct {name}T "), 1);
            (format!("#[symnn(tensor_threshold = 0)]\n{twin}"), *f32)
        })
        .collect();
    sources.extend(tensor_twins);
    class_targets.extend(class_targets.clone());
    assert_eq!(
        sources.len(),
        class_targets.len(),
        "one class-target list a network"
    );

    let mut out = String::new();
    let mut table = String::new();
    for ((source, f32), classes) in sources.iter().zip(&class_targets) {
        let tokens = proc_macro2::TokenStream::from_str(source).expect("tokenizes");
        if let Err(e) = symnn_codegen::derive(tokens) {
            panic!("generated network rejected: {e}\n{source}");
        }
        let name = struct_name(source);
        let fty = if *f32 { "f32" } else { "f64" };
        let _ = writeln!(
            out,
            "symnn::network! {{\n{source}\n}}\nerase!({name}, {fty});\n"
        );
        let _ = writeln!(
            table,
            "    Case {{ name: {name:?}, source: {source:?}, net: &Wrap::<{name}>::NEW, class_targets: &{classes:?} }},"
        );
    }
    let _ = writeln!(
        out,
        "/// Every generated network.\npub static CASES: &[Case] = &[\n{table}];"
    );
    let path = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("nets.rs");
    std::fs::write(path, out).expect("write nets.rs");
}
