//! The macro must never panic: malformed and random inputs get `compile_error!`s.
//!
//! Deterministic fuzzing of [`symnn_codegen::expand`] with three generators: random soups
//! of DSL-ish tokens, random programs from a small grammar of the DSL (which get past the
//! parser and exercise the checker), and truncations and single-token mutations of valid
//! programs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// Valid programs, the seeds of the mutations.
const VALID: &[&str] = &[
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
    "struct Xor {
        input x[2];
        target t;
        let h = dense(x, 4, tanh);
        output y = sigmoid(dot(h, v) + c);
        param v[4], c = 0.0;
        loss = bce(y, t);
    }",
    "struct Loops {
        input x[4];
        let mut z = [0.0, 0.0, 0.0, 0.0];
        for i in 0..3 { z[i + 1] = z[i] + x[i]; }
        for _ in 0..=2 { z += 1.0; z *= 0.5; }
        for i in 0..2 { for j in 0..2 { z[i * 2 + j] -= i; } }
        output y = z;
        loss = sum(y);
    }",
    "struct Fns {
        fn s(u) = 1.0 / (1.0 + exp(-u));
        fn mix(a, b) = s(a) * b + w;
        input x[3];
        target t[2];
        param w = 0.5;
        let h = dense(x, 2, s);
        output y = mix(h, 2.0) + s(w);
        loss = mse(y, t);
    }",
    "struct Linear {
        input v[2];
        param m[2][2] = [[1.0, 0.5], [0.0, 1.0]], b[2] = 0.1, k[2][3] = 0.0;
        let a = m.T * v + b;
        let c = transpose(k) * a;
        let r = m[1] + m[0][1] * k[1][2];
        output y = [a[0].powi(2), a[1].max(r[0]), powi(c[2], -1), min(r[1], 0.0)];
        loss = sum(y) + mean(m * m);
    }",
    "struct Classifier {
        input x[3];
        target t[3];
        param w[3][3] = 0.1;
        let z = w * x;
        output p = softmax(z);
        loss = cross_entropy(z, t) + 0.01 * sum(w * w) + bce_logits(z, t) + bce(p, t);
    }",
    "struct Misc {
        input a, b[2];
        param s = 1.0;
        output y = leaky_relu(a, 0.1) + softplus(a) + sq(a) + pow(abs(a), 1.5) + sqrt(s * s) + sin(a) * cos(a)
            + relu(a) + log(exp(a)) + sum(log_softmax(b));
        loss = y;
    }",
];

/// A small deterministic pseudo-random generator (SplitMix64).
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

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "input",
    "target",
    "param",
    "fn",
    "let",
    "mut",
    "for",
    "in",
    "output",
    "loss",
    "type",
    "Float",
    "f32",
    "f64",
    "struct",
    "pub",
    "x",
    "y",
    "t",
    "v",
    "m",
    "w",
    "h",
    "z",
    "i",
    "j",
    "_",
    "tanh",
    "dense",
    "sum",
    "powi",
    "max",
    "softmax",
    "mse",
    "identity",
    "T",
    "transpose",
    "0",
    "1",
    "2",
    "3",
    "0.5",
    "1e-3",
    "-1",
    "100000000000",
    "99999999999999999999999",
    "1u8",
    "'a'",
    "\"s\"",
    "+",
    "-",
    "*",
    "/",
    "=",
    "+=",
    "-=",
    "*=",
    "/=",
    ";",
    ",",
    ".",
    "..",
    "..=",
    "::",
    "#",
    "!",
    "&",
    "<",
    ">",
    "==",
    "?",
    "@",
];

fn soup(rng: &mut Rng, depth: usize, out: &mut String) {
    let len = rng.below(12);
    for _ in 0..len {
        if depth < 3 && rng.chance(15) {
            let (open, close) = [("(", ")"), ("[", "]"), ("{", "}")][rng.below(3)];
            out.push_str(open);
            soup(rng, depth + 1, out);
            out.push_str(close);
        } else {
            out.push_str(rng.pick(WORDS));
        }
        out.push(' ');
    }
}

const NAMES: &[&str] = &[
    "x", "v", "m", "w", "b", "h", "z", "y", "t", "i", "j", "f", "g", "u", "q",
];
const FUNCS: &[&str] = &[
    "tanh", "sigmoid", "relu", "exp", "sum", "mean", "dot", "softmax", "max", "powi", "mse", "f",
    "g", "nope", "x",
];
const NUMBERS: &[&str] = &["0", "1", "2", "3", "0.5", "2.0", "-1", "1e-3", "7"];

fn expr(rng: &mut Rng, depth: usize) -> String {
    let choice = if depth >= 4 {
        rng.below(2)
    } else {
        rng.below(11)
    };
    match choice {
        0 => rng.pick(NAMES).to_owned(),
        1 => rng.pick(NUMBERS).to_owned(),
        2 => format!("-{}", expr(rng, depth + 1)),
        3 | 4 => format!(
            "({} {} {})",
            expr(rng, depth + 1),
            rng.pick(&["+", "-", "*", "/"]),
            expr(rng, depth + 1)
        ),
        5 => {
            let n = rng.below(4);
            let elems: Vec<String> = (0..n).map(|_| expr(rng, depth + 1)).collect();
            format!("[{}]", elems.join(", "))
        }
        6 => format!("{}[{}]", rng.pick(NAMES), index(rng)),
        7 => format!("{}[{}][{}]", rng.pick(NAMES), index(rng), index(rng)),
        8 => {
            let n = rng.below(4);
            let args: Vec<String> = (0..n).map(|_| expr(rng, depth + 1)).collect();
            format!("{}({})", rng.pick(FUNCS), args.join(", "))
        }
        9 => format!(
            "dense({}, {}, {})",
            expr(rng, depth + 1),
            rng.pick(NUMBERS),
            rng.pick(FUNCS)
        ),
        _ => format!(
            "{}.{}",
            rng.pick(NAMES),
            rng.pick(&["T", "tanh()", "powi(2)", "max(1.0)", "sum()"])
        ),
    }
}

fn index(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => "i".to_owned(),
        1 => "i + 1".to_owned(),
        2 => "j * 2 - i".to_owned(),
        3 => rng.pick(NAMES).to_owned(),
        _ => rng.pick(NUMBERS).to_owned(),
    }
}

fn dims(rng: &mut Rng) -> String {
    let n = [0, 0, 1, 1, 2, 3][rng.below(6)];
    (0..n)
        .map(|_| format!("[{}]", rng.pick(&["0", "1", "2", "3", "4", "1000000000"])))
        .collect()
}

fn stmt(rng: &mut Rng, depth: usize) -> String {
    let name = rng.pick(NAMES);
    match rng.below(if depth >= 2 { 10 } else { 11 }) {
        0 => format!("input {name}{};", dims(rng)),
        1 => format!("target {name}{};", dims(rng)),
        2 => format!(
            "param {name}{} = {};",
            dims(rng),
            rng.pick(&["0.5", "[1.0, 2.0]", "[[1.0], [2.0]]", "-1"])
        ),
        3 => format!(
            "fn {}({}) = {};",
            rng.pick(&["f", "g", "tanh"]),
            rng.pick(&["u", "u, q", "", "u, u"]),
            expr(rng, 1)
        ),
        4 | 5 => format!(
            "let {}{name} = {};",
            if rng.chance(40) { "mut " } else { "" },
            expr(rng, 0)
        ),
        6 => format!(
            "{name}{} {} {};",
            if rng.chance(30) { "[i]" } else { "" },
            rng.pick(&["=", "+=", "*="]),
            expr(rng, 0)
        ),
        7 => format!("output {name} = {};", expr(rng, 0)),
        8 => format!("loss = {};", expr(rng, 0)),
        9 => format!("type Float = {};", rng.pick(&["f32", "f64", "i32"])),
        _ => {
            let var = rng.pick(&["i", "j", "_", "x"]);
            let range = rng.pick(&[
                "0..3",
                "0..=2",
                "2..1",
                "0..n",
                "0..1000000",
                "-1..2",
                "0..2.5",
            ]);
            let body: Vec<String> = (0..rng.below(4)).map(|_| stmt(rng, depth + 1)).collect();
            format!("for {var} in {range} {{ {} }}", body.join(" "))
        }
    }
}

fn program(rng: &mut Rng) -> String {
    let mut body = String::new();
    if rng.chance(70) {
        body.push_str("input x[2], v[3]; param w[2][2], m[3][2] = 0.5; target t[2]; ");
    }
    for _ in 0..rng.below(8) {
        body.push_str(&stmt(rng, 0));
        body.push(' ');
    }
    if rng.chance(50) {
        body.push_str("output y = w * x; loss = mse(y, t);");
    }
    format!("struct N {{ {body} }}")
}

/// The tokens of a program as strings, delimiters as separate items, joint punctuation merged.
fn flatten(stream: TokenStream, out: &mut Vec<String>) {
    let mut joint = String::new();
    for tree in stream {
        match tree {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::None => ("", ""),
                };
                out.push(open.to_owned());
                flatten(group.stream(), out);
                out.push(close.to_owned());
            }
            TokenTree::Punct(punct) => {
                joint.push(punct.as_char());
                if punct.spacing() == Spacing::Alone {
                    out.push(std::mem::take(&mut joint));
                }
            }
            other => out.push(other.to_string()),
        }
    }
    if !joint.is_empty() {
        out.push(joint);
    }
}

/// Joins tokens, dropping unmatched closers and closing what is left open.
fn rebalance(tokens: &[String]) -> String {
    let mut stack = Vec::new();
    let mut out = String::new();
    for token in tokens {
        match token.as_str() {
            "(" | "[" | "{" => stack.push(match token.as_str() {
                "(" => ")",
                "[" => "]",
                _ => "}",
            }),
            ")" | "]" | "}" => {
                if stack.last() == Some(&token.as_str()) {
                    stack.pop();
                } else {
                    continue;
                }
            }
            _ => {}
        }
        out.push_str(token);
        out.push(' ');
    }
    while let Some(close) = stack.pop() {
        out.push_str(close);
    }
    out
}

/// Expands `source` (if it tokenizes) and checks that nothing panics, that rejected
/// programs become `compile_error!`s, and that the later stages accept every program the
/// checker accepts (the checker must catch every mistake itself). Returns whether the
/// checker accepted the program.
fn run(source: &str) -> Option<bool> {
    let tokens = TokenStream::from_str(source).ok()?;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let valid = symnn_codegen::ast::parse(tokens.clone())
            .is_ok_and(|network| symnn_codegen::check::check(&network).is_ok());
        let output = symnn_codegen::expand(tokens.clone()).to_string();
        (valid, output)
    }));
    match outcome {
        Ok((valid, output)) => {
            assert!(
                valid || output.contains("compile_error"),
                "no compile_error for an invalid program:\n{source}"
            );
            assert!(
                !valid || !output.contains("compile_error"),
                "the checker accepted a program that a later stage rejected:\n{source}\n{output}"
            );
            Some(valid)
        }
        Err(_) => panic!("the macro panicked on:\n{source}"),
    }
}

#[test]
fn valid_seeds_pass_the_checker() {
    for source in VALID {
        assert_eq!(run(source), Some(true), "{source}");
    }
}

#[test]
fn token_soups() {
    let mut rng = Rng(1);
    for case in 0..1500 {
        let mut body = String::new();
        soup(&mut rng, 0, &mut body);
        let source = match case % 3 {
            0 => body,
            1 => format!("struct N {{ {body} }}"),
            _ => format!("struct N {{ input x[2]; {body} }}"),
        };
        run(&source);
    }
}

#[test]
fn grammar_programs() {
    let mut rng = Rng(2);
    let mut accepted = 0;
    for _ in 0..1500 {
        if run(&program(&mut rng)) == Some(true) {
            accepted += 1;
        }
    }
    // Most random programs are wrong somewhere, but the generator must reach the checker.
    assert!(accepted < 1500);
}

#[test]
fn mutations_and_truncations() {
    let mut rng = Rng(3);
    for source in VALID {
        let mut tokens = Vec::new();
        flatten(
            TokenStream::from_str(source).expect("seed tokenizes"),
            &mut tokens,
        );
        for len in 0..tokens.len() {
            run(&rebalance(&tokens[..len]));
        }
        for _ in 0..150 {
            let mut mutated = tokens.clone();
            let at = rng.below(mutated.len());
            match rng.below(4) {
                0 => {
                    mutated.remove(at);
                }
                1 => mutated[at] = rng.pick(WORDS).to_owned(),
                2 => mutated.insert(at, rng.pick(WORDS).to_owned()),
                _ => {
                    let other = rng.below(mutated.len());
                    mutated.swap(at, other);
                }
            }
            run(&rebalance(&mutated));
        }
    }
}

/// Programs at the edges of the literal, size and nesting ranges. Each must expand to
/// tokens or to `compile_error!`s that point at a token (never at the call site), and
/// never panic.
fn extreme_programs() -> Vec<(String, String)> {
    let net = |body: &str| format!("struct Extreme {{ input x; param w = 0.5; {body} }}");
    let f32_net = |body: &str| {
        format!("struct Extreme {{ type Float = f32; input x; param w = 0.5; {body} }}")
    };
    let mut cases: Vec<(String, String)> = Vec::new();
    let mut add = |what: &str, source: String| cases.push((what.to_owned(), source));

    // Integer exponents at and beyond the ends of i32 (`i32::MIN` is its own test).
    for n in [
        "2147483647",
        "-2147483647",
        "2147483648",
        "-2147483649",
        "4294967296",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "340282366920938463463374607431768211456",
        "2.5",
        "1e3",
        "-0",
    ] {
        add(
            &format!("powi(w, {n})"),
            net(&format!("output y = powi(w, {n}); loss = y;")),
        );
        add(
            &format!("w.powi({n})"),
            net(&format!("output y = w.powi({n}); loss = y;")),
        );
        add(
            &format!("pow(w, {n})"),
            net(&format!("output y = pow(w, {n}); loss = y;")),
        );
    }
    add(
        "pow(w, -2147483648)",
        net("output y = pow(w, -2147483648) + pow(w, -2147483648.0); loss = y;"),
    );
    // Float literals at the ends of f64 (and past them), in every position.
    for c in [
        "1e308",
        "-1e308",
        "1.7976931348623157e308",
        "1e309",
        "-1e309",
        "1e-320",
        "4.9e-324",
        "1e-400",
        "0.0",
        "-0.0",
        "1e308f64",
        "18446744073709551616",
        "340282366920938463463374607431768211456.0",
    ] {
        add(
            &format!("constant {c}"),
            net(&format!("output y = w * {c} + x; loss = y * {c};")),
        );
        add(
            &format!("init {c}"),
            format!("struct Extreme {{ input x; param w = {c}; output y = w * x; loss = y; }}"),
        );
        add(&format!("exp/ln/sqrt/pow of {c}"), net(&format!(
            "output y = exp(w * {c}) + ln({c} + w) + sqrt({c}) + pow(w, {c}) + pow({c}, w) + {c} / w; loss = sq(y) + sigmoid({c}) + softplus({c});"
        )));
        add(
            &format!("loss of {c}"),
            net(&format!(
            "target t; output y = w * x; loss = bce({c}, t) + bce_logits(y * {c}, t) + mse(y, {c});"
        )),
        );
        add(
            &format!("f32 constant {c}"),
            f32_net(&format!("output y = w * {c} + x; loss = y * y;")),
        );
    }
    for c in [
        "1e39",
        "-1e39",
        "3.4028235e38",
        "3.5e38",
        "1e-46",
        "1e39f32",
    ] {
        add(
            &format!("f32 constant {c}"),
            f32_net(&format!(
                "output y = w * {c} + x * {c}; loss = y * y + exp({c});"
            )),
        );
        add(&format!("f32 init {c}"), format!("struct Extreme {{ type Float = f32; input x; param w = {c}; output y = w * x; loss = y; }}"));
    }
    // Loop bounds.
    for (start, end) in [
        ("0", "..18446744073709551615"),
        ("0", "..18446744073709551616"),
        ("0", "..=9223372036854775807"),
        ("0", "..=18446744073709551615"),
        ("9223372036854775807", "..=9223372036854775807"),
        ("9223372036854775806", "..9223372036854775807"),
        ("0", "..4294967296"),
        ("0", "..100001"),
        ("5", "..2"),
        ("0", "..0"),
        ("-9223372036854775808", "..-9223372036854775807"),
        ("0", "..1e3"),
    ] {
        add(
            &format!("for {start}{end}"),
            net(&format!(
                "let mut z = w; for i in {start}{end} {{ z += x; }} output y = z; loss = y;"
            )),
        );
        add(&format!("for {start}{end}, index"), net(&format!(
            "let mut z = [w, w]; for i in {start}{end} {{ z[i] += x; z[i + 1] -= i; }} output y = z; loss = sum(y);"
        )));
    }
    // Shapes.
    for dims in [
        "[4294967296][4294967296]",
        "[18446744073709551615]",
        "[18446744073709551616]",
        "[9223372036854775807][2]",
        "[1000001]",
        "[1000][1001]",
        "[0]",
        "[0][0]",
        "[2][0]",
        "[1e3]",
        "[-1]",
    ] {
        add(
            &format!("param w{dims}"),
            format!(
                "struct Extreme {{ input x; param v{dims}; output y = sum(v) * x; loss = y; }}"
            ),
        );
        add(
            &format!("input x{dims}"),
            format!(
                "struct Extreme {{ input u{dims}; param w; output y = sum(u) * w; loss = y; }}"
            ),
        );
        add(
            &format!("array index {dims}"),
            net(&format!("output y = [w, x]{dims}; loss = y;")),
        );
    }
    add(
        "dense of 4294967296 units",
        net("output y = dense([x, w], 4294967296, tanh); loss = sum(y);"),
    );
    add(
        "dense of 18446744073709551616 units",
        net("output y = dense([x, w], 18446744073709551616, tanh); loss = sum(y);"),
    );
    add(
        "dense of 0 units",
        net("output y = dense([x, w], 0, tanh); loss = sum(y);"),
    );
    // Very long names: declared, used, misspelt (the suggestion compares names).
    let long = "n".repeat(10_000);
    // The "did you mean" search is an O(n*m) edit distance in time and memory: a
    // misspelt 10,000-character name takes ~45 s and 800 MB in a debug build.
    let misspelt = ("n".repeat(1_500), format!("{}m", "n".repeat(1_499)));
    add("long names", format!(
        "struct {long} {{ input {long}; param w; fn f{long}(a{long}) = a{long} * w; output y = f{long}({long}); loss = y; }}"
    ));
    add(
        "long misspelt name",
        net(&format!(
            "let {} = w; output y = {}; loss = y;",
            misspelt.0, misspelt.1
        )),
    );
    add(
        "long unknown function",
        net(&format!("output y = {long}(w); loss = y;")),
    );
    cases
}

/// Expression nesting and length, `depth` levels deep: parentheses, calls, method
/// chains, unary minus, arrays, `fn`s calling `fn`s and long operator chains.
fn deep_programs(depth: usize) -> Vec<(String, String)> {
    let net = |body: String| format!("struct Deep {{ input x; param w = 0.5; {body} }}");
    let nest = |open: &str, close: &str| format!("{}w{}", open.repeat(depth), close.repeat(depth));
    let fns: String = (0..depth)
        .map(|k| {
            if k == 0 {
                "fn f0(a) = a * w;".to_owned()
            } else {
                format!("fn f{k}(a) = f{}(a) + 1.0;", k - 1)
            }
        })
        .collect();
    vec![
        (
            "parentheses".into(),
            net(format!("output y = {}; loss = y;", nest("(", ")"))),
        ),
        (
            "calls".into(),
            net(format!("output y = {}; loss = y;", nest("tanh(", ")"))),
        ),
        (
            "two-argument calls".into(),
            net(format!("output y = {}; loss = y;", nest("max(x, ", ")"))),
        ),
        (
            "method chain".into(),
            net(format!("output y = w{}; loss = y;", ".sin()".repeat(depth))),
        ),
        (
            "unary minus".into(),
            net(format!("output y = {}w; loss = y;", "-".repeat(depth))),
        ),
        (
            "arrays".into(),
            net(format!("output y = {}; loss = sum(y);", nest("[", "]"))),
        ),
        (
            "indexing".into(),
            net(format!(
                "let v = [w, x]; output y = v{}; loss = y;",
                "[0]".repeat(depth)
            )),
        ),
        (
            "sum chain".into(),
            net(format!(
                "output y = w{}; loss = y;",
                " + x * w".repeat(depth * 2)
            )),
        ),
        (
            "product chain".into(),
            net(format!(
                "output y = w{}; loss = y;",
                " * w".repeat(depth * 2)
            )),
        ),
        (
            "fns calling fns".into(),
            net(format!("{fns} output y = f{}(x); loss = y;", depth - 1)),
        ),
        (
            "index arithmetic".into(),
            net(format!(
                "let v = [w, x]; output y = v[{}]; loss = y;",
                "0 + ".repeat(depth * 2) + "1"
            )),
        ),
    ]
}

/// Returns the error spans of `source` that point at no token (the call site).
fn unspanned_errors(source: &str) -> Vec<String> {
    let tokens = TokenStream::from_str(source).expect("tokenizes");
    match symnn_codegen::derive(tokens) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .into_iter()
            .filter(|e| e.span().byte_range() == proc_macro2::Span::call_site().byte_range())
            .map(|e| e.to_string())
            .collect(),
    }
}

fn run_cases(cases: &[(String, String)]) {
    let mut unspanned = Vec::new();
    for (what, source) in cases {
        let started = std::time::Instant::now();
        let accepted = run(source).expect("tokenizes");
        for message in unspanned_errors(source) {
            unspanned.push(format!("{what}: {message}"));
        }
        println!(
            "{what}: {} in {:.1?}",
            if accepted { "accepted" } else { "rejected" },
            started.elapsed()
        );
    }
    assert!(
        unspanned.is_empty(),
        "errors without a span:\n{}",
        unspanned.join("\n")
    );
}

#[test]
fn extreme_literals() {
    run_cases(&extreme_programs());
}

/// A few hundred levels of nesting. The parser (syn) and the passes recurse: in a debug
/// build 150 nested parentheses overflow a 2 MiB stack (300 fit in 8 MiB, rustc's), so
/// this runs on a thread with a large stack; `deep_nesting_default_stack` checks 100
/// levels on the test harness's default 2 MiB.
#[test]
fn deep_nesting() {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| run_cases(&deep_programs(300)))
        .expect("spawn")
        .join()
        .expect("no panic");
}

#[test]
fn deep_nesting_default_stack() {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| run_cases(&deep_programs(100)))
        .expect("spawn")
        .join()
        .expect("no panic");
}

/// `powi(w, i32::MIN)` once passed the checker, and differentiating it computed
/// `i32::MIN - 1` (an overflow panic in debug builds); it is now a spanned error.
#[test]
fn powi_of_i32_min() {
    let net =
        |e: &str| format!("struct Extreme {{ input x; param w = 0.5; output y = {e}; loss = y; }}");
    let cases = [
        (
            "powi(w, -2147483648)".to_string(),
            net("powi(w, -2147483648)"),
        ),
        (
            "w.powi(-2147483648)".to_string(),
            net("w.powi(-2147483648)"),
        ),
    ];
    run_cases(&cases);
    for (what, source) in &cases {
        assert_eq!(run(source), Some(false), "{what} must be rejected");
    }
}
