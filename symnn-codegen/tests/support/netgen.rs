//! Random valid `network!` programs: the generator of the differential test's networks
//! (`symnn-difftest/build.rs` includes this file) and of the structured inputs of the
//! no-panic fuzzer (`symnn-codegen/tests/no_panic.rs`). Shape-aware, so (almost) every
//! program passes the checker; together the programs of one run use every builtin and
//! loss (`build.rs` asserts it). `network(.., wide = true)` adds a layer large enough
//! for the tensor tier (at least `TENSOR_THRESHOLD` = 256 multiply-adds).
//!
//! Only `std`: this file is compiled into a build script and into a test.

#![allow(dead_code)]

use std::fmt::Write as _;

/// SplitMix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    pub fn constant(&mut self) -> String {
        let c = (self.below(4001) as f64 - 2000.0) / 1000.0;
        if c < 0.0 {
            format!("({c:.3})")
        } else {
            format!("{c:.3}")
        }
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Sh {
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
    /// Long-loop networks ([`loop_network`]): no `diff`/`laplacian` (a loop containing
    /// one stays unrolled), the loop variable as a number scaled by 0.01 (not 0.5: it
    /// runs to 200), and `2 * k + 1` among the index formulas.
    long_loops: bool,
}

const SCALAR_FORMS: usize = 40;

/// The names `diff` may differentiate with respect to: inputs, params and `fn`
/// parameters (never a `let` binding).
const DIFFABLE: [&str; 13] = [
    "xs", "xv", "xm", "xw", "ps", "pv", "pm", "pw", "pq", "pb", "fu", "fb1", "fb2",
];

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
            if self.long_loops && 2 * max + 1 < n && self.rng.chance(25) {
                return format!("2 * {name} + 1");
            }
            return match self.rng.below(3) {
                0 if max + 1 < n => format!("{name} + 1"),
                1 if max < n => format!("{} - {name}", n - 1),
                _ => name,
            };
        }
        self.rng.below(n).to_string()
    }

    /// A scalar variable (or element of one) that `diff` accepts, if one is in scope.
    fn diff_var(&mut self) -> Option<String> {
        let found: Vec<(String, Sh)> = self
            .vars
            .iter()
            .filter(|(n, _)| DIFFABLE.contains(&n.as_str()))
            .cloned()
            .collect();
        if found.is_empty() {
            return None;
        }
        let (name, sh) = found[self.rng.below(found.len())].clone();
        Some(match sh {
            Sh::S => name,
            Sh::V(n) => format!("{name}[{}]", self.index(n)),
            Sh::M(r, c) => format!("{name}[{}][{}]", self.index(r), self.index(c)),
        })
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
                    let scale = if self.long_loops { "0.01" } else { "0.5" };
                    return format!("({} * {scale})", self.loops[k].0);
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
            || (self.long_loops && (form == 38 || form == 39))
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
            // First and second derivatives as values.
            38 => match self.diff_var() {
                Some(v) => format!("diff({a}, {v})"),
                None => format!("tanh({a})"),
            },
            39 => match (self.diff_var(), self.diff_var()) {
                (Some(v), Some(w)) if self.rng.chance(50) => {
                    format!("diff(diff({a}, {v}), {w})")
                }
                (Some(v), _) => format!("laplacian({a}, {v})"),
                _ => format!("sin({a})"),
            },
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

pub fn random_shape(rng: &mut Rng) -> Sh {
    match rng.below(5) {
        0 => Sh::S,
        1 | 2 => Sh::V(2 + rng.below(2)),
        _ => Sh::M(2 + rng.below(2), 2 + rng.below(2)),
    }
}

pub fn decl(name: &str, sh: Sh) -> String {
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
/// `(target index, number of classes)`. A `wide` network has a tensor-tier layer.
pub fn network(
    rng: Rng,
    name: &str,
    f32: bool,
    variant: usize,
    wide: bool,
) -> (String, Rng, Vec<(usize, usize)>) {
    let mut g = Gen {
        rng,
        vars: Vec::new(),
        loops: Vec::new(),
        fns1: Vec::new(),
        fns2: Vec::new(),
        smooth: f32,
        used: [false; SCALAR_FORMS],
        long_loops: false,
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
    if wide {
        // A layer of at least 256 multiply-adds (the tensor tier at the default
        // threshold), as `dense` or written out, then a narrow layer back to `n`
        // (scalar unless `units * n` reaches the threshold too).
        let w_in = 16 + g.rng.below(25);
        let units = 256usize.div_ceil(w_in) + g.rng.below(8);
        let mut acts = vec!["tanh", "sigmoid", "softplus", "identity", "sin"];
        if !f32 {
            acts.push("relu");
        }
        let act = acts[g.rng.below(acts.len())];
        let _ = writeln!(body, "    input xw[{w_in}];");
        if g.rng.chance(60) {
            let _ = writeln!(body, "    let hw = dense(xw, {units}, {act});");
        } else {
            let _ = writeln!(body, "    param pq[{units}][{w_in}], pb[{units}];");
            let _ = writeln!(body, "    let hw = {act}(pq * xw + pb);");
        }
        let act = acts[g.rng.below(acts.len())];
        let _ = writeln!(body, "    let hn = dense(hw, {n}, {act});");
        bindings.push(("hw".to_owned(), Sh::V(units)));
        bindings.push(("hn".to_owned(), Sh::V(n)));
        g.vars.push(("hn".to_owned(), Sh::V(n)));
    }
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

/// What [`loop_network`] made.
pub struct LoopNet {
    /// The network (`pub struct <name> { ... }`, no attribute).
    pub source: String,
    /// The generator's state after it.
    pub rng: Rng,
    /// Class-index targets as `(target index, number of classes)`.
    pub class_targets: Vec<(usize, usize)>,
    /// How many top-level loops `#[symnn(loop_threshold = 0)]` emits as Rust loops
    /// (the long one, a second one reading its result, a short one); a loop whose
    /// body writes a binding at a loop index stays unrolled and is not counted.
    pub rolled_loops: usize,
    /// Iterations of the long loop.
    pub iterations: usize,
}

/// Iterations of the long loop of [`loop_network`] number `variant`.
pub const LOOP_LENGTHS: [usize; 10] = [20, 30, 100, 24, 200, 40, 64, 20, 50, 32];

/// A random network built around a long loop (issue 20: loops emitted as Rust loops),
/// meant to be compiled twice, rolled (`loop_threshold = 0`) and unrolled:
/// - a long top-level `for` (20-200 iterations, `a..b` or `a..=b`, starting at 0, 1 or
///   3) carrying a vector state `z` and often a scalar `s`, with leaky updates
///   (`z = a z + b tanh(...)`, element assignments, compound assignments, a nested
///   short loop over `z[j]`) so the recurrence stays contracting and the gradient
///   well-conditioned over 200 steps;
/// - reads of inputs at the loop index (`xq[k]`, `xq[k + 1]`, `xq[k + j]`,
///   `xd[2 * k + 1]`, rows `xr[k]`), of per-step parameters (`pk[k]`, rows `pr[k]`),
///   of targets (`ts[k]`, `tr[k]`, into an accumulator `acc` that only the loss
///   reads), the loop variable as a number (`(k * 0.01)`), captured bindings (`cap`),
///   `let`s local to an iteration, `fn` calls and random builtins in the body;
/// - sometimes a second long loop reading the first's result, a short loop (1-3
///   iterations, rolled too at threshold 0), and a loop that must stay unrolled
///   (it assigns `hh[i + 1]`).
///
/// No `diff`/`laplacian` (a loop containing one stays unrolled).
pub fn loop_network(rng: Rng, name: &str, f32: bool, variant: usize) -> LoopNet {
    let mut g = Gen {
        rng,
        vars: Vec::new(),
        loops: Vec::new(),
        fns1: Vec::new(),
        fns2: Vec::new(),
        smooth: f32,
        used: [false; SCALAR_FORMS],
        long_loops: true,
    };
    let mut body = String::new();
    if f32 {
        body.push_str("    type Float = f32;\n");
    }
    let iterations = LOOP_LENGTHS[variant % LOOP_LENGTHS.len()];
    // Longer loops get a narrower state and shallower random expressions (the compile
    // time of the unrolled twin grows with iterations × body).
    let n = if iterations >= 100 {
        2
    } else {
        2 + g.rng.below(2)
    };
    let depth = match iterations {
        100.. => 0,
        _ => 1,
    };
    // The forms issue 20 lists are spread over the variants (so that any six
    // consecutive ones cover them, `symnn-difftest/build.rs` checks); expressions,
    // widths and coefficients are random.
    let v6 = variant % 6;
    let start = [0, 1, 3][variant % 3];
    let kmax = start + iterations - 1;
    let range = if variant % 2 == 1 {
        format!("{start}..={kmax}")
    } else {
        format!("{start}..{}", kmax + 1)
    };
    let leak = |rng: &mut Rng| ["0.5", "0.6"][rng.below(2)];
    let gain = |rng: &mut Rng| ["0.05", "0.1", "0.15"][rng.below(3)];
    let squash = |rng: &mut Rng, smooth: bool| {
        let mut names = vec!["tanh", "sigmoid", "sin", "cos", "softplus"];
        if !smooth {
            names.push("relu");
        }
        names[rng.below(names.len())]
    };

    // Declarations.
    let mut inputs = vec!["xs".to_owned(), format!("xq[{}]", kmax + 3)];
    g.vars.push(("xs".to_owned(), Sh::S));
    g.vars.push(("xq".to_owned(), Sh::V(kmax + 3)));
    if v6 == 0 || v6 == 3 || g.rng.chance(20) {
        inputs.push(format!("xd[{}]", 2 * kmax + 2));
        g.vars.push(("xd".to_owned(), Sh::V(2 * kmax + 2)));
    }
    if v6 == 1 || v6 == 4 || g.rng.chance(20) {
        inputs.push(format!("xr[{}][{n}]", kmax + 1));
        g.vars.push(("xr".to_owned(), Sh::M(kmax + 1, n)));
    }
    let mut params = Vec::new();
    let mut declared = vec![
        ("pa", Sh::M(n, n)),
        ("pb", Sh::V(n)),
        ("pc", Sh::V(n)),
        ("ps", Sh::S),
    ];
    if v6.is_multiple_of(2) || g.rng.chance(30) {
        declared.push(("pk", Sh::V(kmax + 1)));
    }
    if iterations <= 64 && (v6 == 1 || v6 == 5) {
        declared.push(("pr", Sh::M(kmax + 1, n)));
    }
    let has = |name: &str, declared: &[(&str, Sh)], vars: &[(String, Sh)]| {
        declared.iter().any(|(nm, _)| *nm == name) || vars.iter().any(|(nm, _)| nm == name)
    };
    // Terms that tie an iteration to its step and its state: a per-step read or the
    // state, for element `i` of the state (`drive`) or the whole state (`drive_vec`).
    let mut drives: Vec<String> = vec![
        "xq[k]".into(),
        "xq[k + 1]".into(),
        "ps * z[{i1}]".into(),
        "(k * 0.01) * z[{i}]".into(),
    ];
    let mut drives_vec: Vec<String> = vec![
        "pb * xq[k]".into(),
        "pa * z".into(),
        "pa.T * z * xq[k + 1]".into(),
    ];
    if has("xd", &declared, &g.vars) {
        drives.push("0.5 * xd[2 * k + 1]".into());
        drives_vec.push("pc * xd[2 * k]".into());
    }
    if has("xr", &declared, &g.vars) {
        drives.push("xr[k][{i}]".into());
        drives_vec.push("xr[k]".into());
    }
    if has("pk", &declared, &g.vars) {
        drives.push("pk[k] * z[{i}]".into());
        drives_vec.push("pk[k] * z".into());
    }
    if has("pr", &declared, &g.vars) {
        drives.push("pr[k][{i}]".into());
        drives_vec.push("pr[k] * z".into());
    }
    let drive = |rng: &mut Rng, i: usize| {
        let a = drives[rng.below(drives.len())].clone();
        let b = drives[rng.below(drives.len())].clone();
        format!("{a} + {b}")
            .replace("{i1}", &((i + 1) % n).to_string())
            .replace("{i}", &i.to_string())
    };
    let drive_vec = |rng: &mut Rng| drives_vec[rng.below(drives_vec.len())].clone();
    for (nm, sh) in declared {
        let init = if matches!(sh, Sh::V(m) if m > 3) || matches!(sh, Sh::M(r, _) if r > 3) {
            // (No array literal of 200 values.)
            match g.rng.below(2) {
                0 => String::new(),
                _ => format!(" = {}", g.rng.constant()),
            }
        } else {
            init(&mut g.rng, sh)
        };
        params.push(format!("{}{init}", decl(nm, sh)));
        g.vars.push((nm.to_owned(), sh));
    }

    // fns, as in `network` (their bodies see their arguments and `ps`).
    let globals = g.vars.clone();
    if g.rng.chance(50) {
        g.vars = vec![("fu".to_owned(), Sh::S), ("ps".to_owned(), Sh::S)];
        let e = g.scalar(2);
        let _ = writeln!(body, "    fn fa(fu) = tanh(fu) + 0.5 * tanh({e});");
        g.fns1.push("fa".to_owned());
        if g.rng.chance(50) {
            g.vars = vec![("fb1".to_owned(), Sh::S), ("fb2".to_owned(), Sh::S)];
            let e = g.scalar(1);
            let _ = writeln!(
                body,
                "    fn fb(fb1, fb2) = fa(fb1) * tanh(fb2) + 0.5 * tanh({e});"
            );
            g.fns2.push("fb".to_owned());
        }
    }
    g.vars = globals;
    let _ = writeln!(body, "    input {};", inputs.join(", "));
    let _ = writeln!(body, "    param {};", params.join(", "));

    // Before the long loop: a captured value and the state.
    if v6 != 1 {
        let _ = writeln!(body, "    let cap = tanh(pb * xs + pc);");
        g.vars.push(("cap".to_owned(), Sh::V(n)));
    }
    let z0 = match g.rng.below(3) {
        0 => "tanh(pb * xs + pc)".to_owned(),
        1 => format!(
            "[{}]",
            (0..n)
                .map(|i| format!("xq[{i}]"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => "pc * 0.5".to_owned(),
    };
    let _ = writeln!(body, "    let mut z = {z0};");
    // (Loops of 100 and more iterations get a lean body: the state `z` (and `acc`)
    // only, one update, no `let`s in it, no second long loop.)
    let lean = iterations >= 100;
    let has_s = !lean && v6 != 3;
    if has_s {
        let s0 = ["xs * ps", "0.0", "tanh(sum(pc))"][g.rng.below(3)];
        let _ = writeln!(body, "    let mut s = {s0};");
    }
    let has_acc = variant % 5 != 3;
    if has_acc {
        let _ = writeln!(body, "    let mut acc = 0.0;");
    }
    // Targets read per step (declared with the others at the end).
    let mut uses_ts = false;
    let mut uses_tr = false;

    // The long loop.
    let outside = g.vars.clone();
    g.vars.push(("z".to_owned(), Sh::V(n)));
    if has_s {
        g.vars.push(("s".to_owned(), Sh::S));
    }
    g.loops = vec![("k".to_owned(), kmax)];
    let mut stmts = Vec::new();
    if !lean && variant.is_multiple_of(2) {
        stmts.push(format!("let u = {};", g.scalar(depth)));
        g.vars.push(("u".to_owned(), Sh::S));
    }
    if !lean && variant % 3 == 1 {
        stmts.push(format!("let v = {};", g.vector(n, depth)));
        g.vars.push(("v".to_owned(), Sh::V(n)));
    }
    let (a, b) = (leak(&mut g.rng), gain(&mut g.rng));
    match variant % 5 {
        0 => {
            let shift = if outside.iter().any(|(nm, _)| nm == "cap") {
                "cap"
            } else {
                "pc"
            };
            let extra = g.vector(n, 1);
            stmts.push(format!(
                "z = {a} * z + {b} * tanh(pa * z + pb * xq[k] + {shift} + 0.5 * {extra});"
            ));
        }
        1 => {
            let e = g.vector(n, depth);
            let d = drive_vec(&mut g.rng);
            stmts.push(format!("z = {a} * z + {b} * tanh({e} + {d});"));
        }
        2 => {
            for i in 0..n {
                let f = squash(&mut g.rng, g.smooth);
                let e = g.scalar(depth);
                let d = drive(&mut g.rng, i);
                stmts.push(format!("z[{i}] = {a} * z[{i}] + {b} * {f}({e} + {d});"));
            }
        }
        3 => {
            let e = g.vector(n, depth);
            let d = drive_vec(&mut g.rng);
            let e = format!("{e} + {d}");
            stmts.push(match (variant / 5 + g.rng.below(2)) % 4 {
                0 => format!("z *= {a}; z += {b} * tanh({e});"),
                1 => format!("z *= {a}; z -= {b} * sin({e});"),
                2 => format!("z *= 0.6 + 0.3 * tanh({e});"),
                _ => format!("z /= 1.2 + sq({e});"),
            });
        }
        _ => {
            g.loops.push(("j".to_owned(), n - 1));
            let f = squash(&mut g.rng, g.smooth);
            let e = g.scalar(1);
            stmts.push(format!(
                "for j in 0..{n} {{ z[j] = {a} * z[j] + {b} * {f}({e} + xq[k + j] * z[{}]); }}",
                n - 1
            ));
            g.loops.pop();
        }
    }
    // Per-step reads that every network with those declarations makes (the random
    // expressions add others).
    if !lean && has("xd", &[], &g.vars) {
        // Two reads per step at `2k` and `2k + 1` (`traj[2 * k + 1]`).
        stmts.push("z[0] = z[0] + 0.05 * tanh(xd[2 * k + 1] - xd[2 * k]);".to_owned());
    }
    if !lean && has("xr", &[], &g.vars) {
        // A row per step.
        stmts.push("z = z + 0.05 * tanh(xr[k] - z);".to_owned());
    }
    if !lean && has("pk", &[], &g.vars) {
        // A parameter per step.
        stmts.push("z[1] = z[1] * (1.0 - 0.1 * sigmoid(pk[k] * xq[k + 1]));".to_owned());
    }
    if has_s {
        let (a, b) = (leak(&mut g.rng), gain(&mut g.rng));
        if variant % 4 == 1 {
            // A local `let mut` updated by a nested loop.
            stmts.push(format!(
                "let mut lq = z[1]; for j in 0..2 {{ lq = tanh(lq * ps + xq[k + j]); }} s = {a} * s + {b} * lq;"
            ));
        } else {
            let f = squash(&mut g.rng, g.smooth);
            let e = g.scalar(depth);
            let d = drive(&mut g.rng, 0);
            stmts.push(format!("s = {a} * s + {b} * {f}({e} + {d} * s);"));
        }
    }
    if has_acc {
        match variant % 4 {
            0 => {
                uses_ts = true;
                stmts.push("acc = acc + sq(z[0] - ts[k]);".to_owned());
            }
            1 => {
                uses_tr = true;
                stmts.push("acc += mse(z, tr[k]);".to_owned());
            }
            2 => {
                uses_tr = true;
                stmts.push("acc += 0.1 * bce_logits(z, tr[k]);".to_owned());
            }
            _ => {
                uses_ts = true;
                stmts.push("acc += sq(z[1] - ts[k + 1]) * (k * 0.01);".to_owned());
            }
        }
    }
    let _ = writeln!(
        body,
        "    for k in {range} {{\n        {}\n    }}",
        stmts.join("\n        ")
    );
    g.loops.clear();
    g.vars = outside;
    g.vars.push(("z".to_owned(), Sh::V(n)));
    if has_s {
        g.vars.push(("s".to_owned(), Sh::S));
    }
    let mut rolled_loops = 1;
    let mut loss_terms = Vec::new();

    // A second long loop reading the first's result.
    if !lean && variant.is_multiple_of(2) {
        let m = 5 + g.rng.below(iterations.min(40) - 4);
        let q_shape = if g.rng.chance(50) { Sh::S } else { Sh::V(n) };
        let q0 = g.expr(q_shape, 1);
        let _ = writeln!(body, "    let mut q = {q0};");
        g.vars.push(("q".to_owned(), q_shape));
        g.loops = vec![("i".to_owned(), m - 1)];
        let (a, b) = (leak(&mut g.rng), gain(&mut g.rng));
        let e = g.expr(q_shape, depth);
        let _ = writeln!(
            body,
            "    for i in 0..{m} {{ q = {a} * q + {b} * tanh({e} + xq[i]); }}"
        );
        g.loops.clear();
        rolled_loops += 1;
        loss_terms.push(match q_shape {
            Sh::S => "0.1 * q".to_owned(),
            _ => "0.1 * mean(q)".to_owned(),
        });
    }
    // A short loop (1-3 iterations; rolled at threshold 0 too).
    if matches!(v6, 0 | 1 | 3) {
        let (a, b) = (leak(&mut g.rng), gain(&mut g.rng));
        match v6 {
            0 => {
                let _ = writeln!(
                    body,
                    "    for _ in 0..=1 {{ z = {a} * z + {b} * tanh(pa.T * z + pc); }}"
                );
            }
            1 => {
                // (No loop variable for `Gen`: `z[m]` would keep the loop unrolled.)
                let c = 1 + g.rng.below(3);
                let e = g.scalar(1);
                let _ = writeln!(
                    body,
                    "    for m in 0..{c} {{ z[0] = {a} * z[0] + {b} * tanh({e} + (m * 0.01)); }}"
                );
            }
            _ => {
                // One iteration, not starting at 0.
                let _ = writeln!(
                    body,
                    "    for m in 7..8 {{ z = {a} * z + {b} * tanh(z * (m * 0.1) + pb); }}"
                );
            }
        }
        rolled_loops += 1;
    }
    // A loop that stays unrolled: it writes a binding at a loop index.
    if v6 == 2 || v6 == 5 {
        let items: Vec<String> = (0..n)
            .map(|i| {
                if i == 0 {
                    "z[0]".to_owned()
                } else {
                    "0.0".to_owned()
                }
            })
            .collect();
        let _ = writeln!(body, "    let mut hh = [{}];", items.join(", "));
        g.loops = vec![("i".to_owned(), n - 2)];
        let e = g.scalar(1);
        g.loops.clear();
        let _ = writeln!(
            body,
            "    for i in 0..{} {{ hh[i + 1] = hh[i] * 0.5 + tanh({e}); }}",
            n - 1
        );
        g.vars.push(("hh".to_owned(), Sh::V(n)));
        loss_terms.push("0.1 * mean(hh)".to_owned());
    }

    // Output (never reading `acc`, which read targets), targets and loss.
    // (A scalar output for lean loops: the unrolled twin's derivative methods have
    // one row per output.)
    let out_sh = if lean || variant % 3 == 2 {
        Sh::S
    } else {
        Sh::V(n)
    };
    let out = match out_sh {
        Sh::S => format!("sum(z) + {}", g.scalar(2)),
        _ => format!("z + 0.5 * {}", g.vector(n, 2)),
    };
    let _ = writeln!(body, "    output y = {out};");
    let mut targets = vec![decl("ty", out_sh)];
    let mut offset = match out_sh {
        Sh::S => 1,
        _ => n,
    };
    if uses_ts {
        targets.push(format!("ts[{}]", kmax + 2));
        offset += kmax + 2;
    }
    if uses_tr {
        targets.push(format!("tr[{}][{n}]", kmax + 1));
        offset += (kmax + 1) * n;
    }
    let mut terms = vec!["mse(y, ty)".to_owned()];
    let mut class_targets = Vec::new();
    match variant % 4 {
        1 => {
            targets.push("tk".to_owned());
            class_targets.push((offset, n));
            terms.push("sparse_cross_entropy(z, tk)".to_owned());
        }
        2 => {
            targets.push(format!("tc[{n}]"));
            terms.push("cross_entropy(z, tc)".to_owned());
        }
        3 if has_s => {
            targets.push("tl".to_owned());
            terms.push("bce_logits(s, tl)".to_owned());
        }
        _ => terms.push("0.1 * mean(z)".to_owned()),
    }
    if has_s {
        terms.push("0.1 * s".to_owned());
    }
    if has_acc {
        terms.push("0.01 * acc".to_owned());
    }
    terms.extend(loss_terms);
    let _ = writeln!(body, "    target {};", targets.join(", "));
    let _ = writeln!(body, "    loss = {};", terms.join(" + "));
    LoopNet {
        source: format!("pub struct {name} {{\n{body}}}"),
        rng: g.rng,
        class_targets,
        rolled_loops,
        iterations,
    }
}
