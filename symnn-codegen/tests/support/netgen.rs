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
