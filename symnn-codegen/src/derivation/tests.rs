use super::{dot, latex, DOC_LINES_MAX, DOC_LINE_CHARS};
fn derivation(body: proc_macro2::TokenStream) -> String {
    derived(body).derivation
}

#[test]
fn like_terms_are_collected_and_common_factors_pulled_out() {
    let d = derivation(quote::quote! {
        struct N { input x; param a, b; output y = (x * a + b) + (x * a + b) - b; loss = y * 1.0; }
    });
    assert!(d.contains("  y = b + 2*x*a"), "{d}");
    let d = derivation(quote::quote! {
        struct N { input x; param a; let s = sigmoid(a * x); output y = 1.0 - s; loss = y; }
    });
    assert!(d.contains("  y = 1 - s"), "{d}");
}

/// Deep expressions (a 10-class log-softmax) get `tN` names so printing stays
/// shallow; every such name is defined once and every name used is defined.
#[test]
fn every_temporary_is_defined_exactly_once() {
    let d = derivation(quote::quote! {
        struct N { input x[3]; target t[10]; output y = dense(x, 10, identity); loss = cross_entropy(y, t); }
    });
    let mut defined = std::collections::HashSet::new();
    for line in d.lines() {
        if let Some((name, _)) = line.trim().split_once(" = ") {
            if name.starts_with('t') && name[1..].chars().all(|c| c.is_ascii_digit()) {
                assert!(
                    defined.insert(name.to_string()),
                    "{name} defined twice in\n{d}"
                );
            }
        }
    }
    let words = d.split(|c: char| !c.is_ascii_alphanumeric());
    for word in words.filter(|w| w.len() > 1 && w.starts_with('t')) {
        if word[1..].chars().all(|c| c.is_ascii_digit()) {
            assert!(
                defined.contains(word),
                "{word} used but not defined in\n{d}"
            );
        }
    }
    assert!(defined.len() > 10, "the deep log-softmax is named: {d}");
}

#[test]
fn seed_003_reads_like_the_textbook() {
    let d = seed_003().derivation;
    for line in [
        "f3 = sigmoid(2*w0 + x1*w13 + x2*w23)",
        "= f5 - y",
        "dL/dw0 = 2*(",
        "dL/dw35 = f3*t",
    ] {
        assert!(d.contains(line), "missing {line:?} in\n{d}");
    }
}

fn derived(body: proc_macro2::TokenStream) -> crate::emit::Derived {
    crate::derive(body)
        .map(|(_, d)| d)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn seed_003() -> crate::emit::Derived {
    derived(quote::quote! {
        struct Seed003 {
            input x1, x2; target y;
            param w0 = 0.1, w13 = 0.2, w14 = 0.8, w23 = 0.6, w24 = 0.4, w35 = 0.1, w45 = 0.5;
            let f3 = sigmoid((x1 * w13 + w0) + (x2 * w23 + w0));
            let f4 = sigmoid((x1 * w14 + w0) + (x2 * w24 + w0));
            output f5 = sigmoid((f3 * w35 + w0) + (f4 * w45 + w0));
            loss = -(y * ln(f5) + (1.0 - y) * ln(1.0 - f5));
        }
    })
}

fn mnist() -> crate::emit::Derived {
    derived(quote::quote! {
        struct Mnist {
            type Float = f32;
            input x[784]; target k;
            let h = dense(x, 128, relu);
            output z = dense(h, 10, identity);
            loss = sparse_cross_entropy(z, k);
        }
    })
}

/// The `lhs = rhs` lines of the text derivation (indented, below a heading).
fn text_lines(d: &str) -> Vec<(&str, &str)> {
    d.lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| l.trim().split_once(" = "))
        .collect()
}

/// The `lhs &= rhs` rows of an aligned LaTeX block.
fn latex_rows(latex: &str) -> Vec<(String, String)> {
    let body = latex
        .trim()
        .strip_prefix("\\begin{aligned}")
        .and_then(|b| b.strip_suffix("\\end{aligned}"))
        .unwrap_or_else(|| panic!("not an aligned block:\n{latex}"));
    // One row per line, ended by `\\` (or `\\[6pt]` between sections).
    body.lines()
        .map(|row| {
            let row = row.trim();
            let row = row.strip_suffix("\\\\[6pt]").unwrap_or(row);
            row.strip_suffix("\\\\").unwrap_or(row).trim()
        })
        .filter(|row| !row.is_empty())
        .map(|row| {
            let (lhs, rhs) = row
                .split_once(" &= ")
                .unwrap_or_else(|| panic!("row without `&=`: {row}"));
            (lhs.to_string(), rhs.to_string())
        })
        .collect()
}

/// Braces balance and every `\left` has its `\right`.
fn assert_balanced(latex: &str) {
    let mut depth = 0i64;
    for c in latex.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        assert!(depth >= 0, "unbalanced braces in\n{latex}");
    }
    assert_eq!(depth, 0, "unbalanced braces in\n{latex}");
    assert_eq!(
        latex.matches("\\left").count(),
        latex.matches("\\right").count(),
        "\\left without \\right in\n{latex}"
    );
}

/// The LaTeX has one row per line of the text derivation, in the same order, with
/// each name spelt the LaTeX way; seed 003's `dL/dw35 = f3*t2` is
/// `\frac{\partial L}{\partial w_{35}} &= f_{3} t_{2}`, the sigmoid is `\sigma`.
#[test]
fn latex_mirrors_the_text_derivation_line_by_line() {
    let d = seed_003();
    let text = text_lines(&d.derivation);
    let rows = latex_rows(&d.derivation_latex);
    assert_balanced(&d.derivation_latex);
    assert_eq!(
        text.len(),
        rows.len(),
        "{}\n{}",
        d.derivation,
        d.derivation_latex
    );
    for ((lhs, rhs), (latex_lhs, latex_rhs)) in text.iter().zip(&rows) {
        assert!(!latex::name(lhs.trim_start_matches("dL/d")).is_empty());
        if let Some(param) = lhs.strip_prefix("dL/d") {
            assert_eq!(
                latex_lhs,
                &format!("\\frac{{\\partial L}}{{\\partial {}}}", latex::name(param))
            );
        }
        // The same names, in the same order: `f3*t2` reads f3 then t2.
        let words = |s: &str| -> Vec<String> {
            s.split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
                .filter(|w| !["sigmoid", "softplus", "ln", "exp"].contains(w))
                .map(latex::name)
                .collect()
        };
        let spelt: Vec<String> = words(rhs);
        let mut rest = latex_rhs.as_str();
        for name in &spelt {
            let at = rest
                .find(name.as_str())
                .unwrap_or_else(|| panic!("{name} (from `{rhs}`) not in order in `{latex_rhs}`"));
            rest = &rest[at + name.len()..];
        }
    }
    let w35 = rows
        .iter()
        .find(|(lhs, _)| lhs.contains("w_{35}"))
        .expect("a row for w35");
    let (_, text_w35) = text
        .iter()
        .find(|(l, _)| *l == "dL/dw35")
        .expect("text row");
    assert_eq!(text_w35, &"f3*t2", "{}", d.derivation);
    assert_eq!(w35.1, "f_{3} t_{2}", "juxtaposition for the product");
    assert!(rows[0].1.starts_with("\\sigma\\left("), "{:?}", rows[0]);
}

/// A target called `t` would read like the temporaries `t_{k}`: they become `\tau_{k}`.
#[test]
fn latex_temporaries_avoid_user_names() {
    let d = derived(quote::quote! {
        #[symnn(derivation = "elements")]
        struct N { input x[2]; target t[1]; let h = dense(x, 2, tanh); output y = dense(h, 1, sigmoid); loss = bce(y, t); }
    });
    assert!(d.derivation.contains("t0 = "), "{}", d.derivation);
    assert!(
        d.derivation_latex.contains("\\tau_{0} &= "),
        "{}",
        d.derivation_latex
    );
    assert!(
        d.derivation_latex.contains("t_{0}"),
        "the target element stays t_0"
    );
    assert!(
        !d.derivation_latex.contains("t_{0} &="),
        "{}",
        d.derivation_latex
    );
}

/// 784-128-10: matrix formulas keep the LaTeX to a few dozen rows, and the tensor
/// tier's notation is there: `W^{(h)} x`, `{W^{(z)}}^{\top} \delta_k`, `\delta_k x^{\top}`,
/// `\odot`.
#[test]
fn mnist_latex_is_a_few_dozen_matrix_formulas() {
    let d = mnist();
    let rows = latex_rows(&d.derivation_latex);
    assert_balanced(&d.derivation_latex);
    assert!(rows.len() < 80, "{} rows", rows.len());
    assert_eq!(rows.len(), text_lines(&d.derivation).len());
    let latex = &d.derivation_latex;
    assert!(
        latex.contains("\\operatorname{relu}\\left(W^{(h)} x + b^{(h)}\\right)"),
        "{latex}"
    );
    assert!(latex.contains("{W^{(z)}}^{\\top} \\delta_{"), "{latex}");
    assert!(latex.contains(" x^{\\top}"), "{latex}");
    assert!(latex.contains("\\odot"), "{latex}");
    assert!(
        latex.contains("\\frac{\\partial L}{\\partial W^{(h)}}"),
        "{latex}"
    );
    assert!(latex.len() < 20_000, "{} bytes", latex.len());
}

/// Every `t_{k}` / `\delta_{k}` the LaTeX reads is defined by an earlier row or
/// later in the table (like the text's temporaries).
#[test]
fn every_latex_temporary_is_defined_once() {
    for d in [seed_003(), mnist()] {
        let rows = latex_rows(&d.derivation_latex);
        let defined: Vec<&str> = rows
            .iter()
            .map(|(l, _)| l.as_str())
            .filter(|l| l.starts_with("t_{") || l.starts_with("\\delta_{"))
            .collect();
        let mut unique = defined.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), defined.len(), "a temporary defined twice");
        for (_, rhs) in &rows {
            for (at, _) in rhs
                .match_indices("t_{")
                .chain(rhs.match_indices("\\delta_{"))
            {
                let end = at + rhs[at..].find('}').expect("closing brace") + 1;
                let name = &rhs[at..end];
                let name = name.trim_start_matches("\\left(");
                // (`\left(t_{..}` is a user element, not a temporary, only if it
                // indexes further; the seeds and MNIST have none.)
                assert!(defined.contains(&name), "{name} used, not defined");
            }
        }
    }
}

/// The DOT graph: every edge joins declared nodes, every node class appears for seed
/// 003, each parameter and each gradient is a node, and backward edges are dashed.
#[test]
fn dot_has_the_node_classes_and_only_declared_endpoints() {
    let d = seed_003();
    let dot = &d.graph_dot;
    assert!(dot.starts_with("digraph \"Seed003\" {") && dot.trim_end().ends_with('}'));
    let mut declared = std::collections::BTreeMap::new();
    let mut edges = Vec::new();
    for line in dot.lines().map(str::trim) {
        if let Some((from, rest)) = line.split_once(" -> ") {
            let to = rest.split([' ', ';']).next().unwrap_or("");
            edges.push((from.to_string(), to.to_string(), line.contains("dashed")));
        } else if let Some((id, attrs)) = line.split_once(" [label=") {
            declared.insert(id.to_string(), attrs.to_string());
        }
    }
    for (from, to, _) in &edges {
        assert!(
            declared.contains_key(from) && declared.contains_key(to),
            "{from} -> {to}"
        );
    }
    let nodes: Vec<&String> = declared
        .iter()
        .filter(|(id, _)| !id.starts_with("legend_"))
        .map(|(_, attrs)| attrs)
        .collect();
    for (class, color) in [
        ("input", "#cfe2ff"),
        ("target", "#ffe8a3"),
        ("parameter", "#c8f0c0"),
        ("forward value", "#eeeeee"),
        ("loss", "#ffd36e"),
        ("adjoint", "#fcd5d5"),
        ("gradient", "#f4a3a3"),
    ] {
        assert!(
            nodes.iter().any(|a| a.contains(color)),
            "no {class} node in\n{dot}"
        );
    }
    for name in ["w0", "w13", "w14", "w23", "w24", "w35", "w45"] {
        assert!(
            nodes.iter().any(|a| a.starts_with(&format!("\"{name}\""))),
            "{name}"
        );
        assert!(
            nodes
                .iter()
                .any(|a| a.starts_with(&format!("\"dL/d{name} =\\n"))),
            "dL/d{name}"
        );
    }
    // Edges into the backward pass are dashed, the forward pass's are not.
    let gradient_ids: Vec<&String> = declared
        .iter()
        .filter(|(_, a)| a.contains("#f4a3a3") || a.contains("#fcd5d5"))
        .map(|(id, _)| id)
        .collect();
    for (_, to, dashed) in edges.iter().filter(|(f, _, _)| !f.starts_with("legend_")) {
        assert_eq!(gradient_ids.contains(&to), *dashed, "edge into {to}");
    }
    // The loss reads the forward values only: one edge per name it reads.
    assert!(edges.len() > 30, "{} edges", edges.len());
}

/// Large scalar networks are cut down to the cap, and say so; MNIST (tensor tier)
/// stays whole and small.
#[test]
fn dot_size_is_capped() {
    let count = |dot: &str| {
        dot.lines()
            .filter(|l| l.contains(" [label=") && !l.trim().starts_with("legend_"))
            .count()
    };
    let edges = |dot: &str| dot.lines().filter(|l| l.contains(" -> n")).count();
    let m = mnist();
    assert!(count(&m.graph_dot) < 80, "{}", m.graph_dot);
    assert!(!m.graph_dot.contains("omitted"), "MNIST is drawn whole");
    // 8-16-16-16-1 unrolled: hundreds of scalar temporaries and edges, so the
    // common subexpressions are contracted.
    let big = derived(quote::quote! {
        #[symnn(tensor_threshold = 100000, derivation = "elements")]
        struct Big {
            input x[8]; target t[1];
            let a = dense(x, 16, tanh);
            let b = dense(a, 16, tanh);
            let c = dense(b, 16, tanh);
            output y = dense(c, 1, identity);
            loss = mse(y, t);
        }
    });
    assert!(
        big.derivation.lines().count() > dot::MAX_NODES,
        "the test needs a big graph"
    );
    let dot = &big.graph_dot;
    assert!(count(dot) <= dot::MAX_NODES && edges(dot) <= dot::MAX_EDGES);
    assert!(
        !dot.contains("\"t0 =\\n"),
        "the temporaries are contracted: {dot}"
    );
    // Declarations and bindings are one node each: `a[0]`..`a[15]` is `a`.
    assert!(dot.contains("(+15 more)"), "{dot}");
    assert!(dot.contains("\"a.weight\\n[16×8]\""), "{dot}");
    assert!(dot.contains("\"dL/da.weight[0][0] =\\n"), "{dot}");
    // The input still reaches the output, through the contracted temporaries.
    assert!(dot.contains(" -> n"), "{dot}");

    // 200 separate parameters: 400 nodes even without temporaries; whole classes
    // are merged until it fits, and a note says so.
    let names: Vec<String> = (0..200).map(|k| format!("p{k}")).collect();
    let body: proc_macro2::TokenStream = format!(
        "struct Wide {{ input x; param {}; output y = {}; loss = y * y; }}",
        names.join(", "),
        names
            .iter()
            .map(|p| format!("{p} * x"))
            .collect::<Vec<_>>()
            .join(" + ")
    )
    .parse()
    .expect("tokens");
    let wide = derived(body);
    let dot = &wide.graph_dot;
    assert!(count(dot) <= dot::MAX_NODES + 1, "{dot}");
    assert!(
        dot.contains("\"200 parameters\\n(p0, p1, p2, …)\""),
        "{dot}"
    );
    assert!(dot.contains("200 parameters drawn as one node"), "{dot}");
    // The loss and the output are never merged away, and the merged parameters
    // still feed the output.
    assert!(dot.contains(" [label=\"L\", shape=doublecircle"), "{dot}");
    assert!(dot.contains(" [label=\"y =\\n"), "{dot}");
    assert!(edges(dot) >= 3, "{dot}");
}

/// The rustdoc formulas: seed 003 shows everything (each gradient line, with the
/// definitions it reads); MNIST's gradient block grows past `DOC_LINES` to hold the
/// softmax lines `δ1` reads (the elements view of a 4-16-3 net is shortened: see
/// `view_tests`).
#[test]
fn rustdoc_formulas_are_complete_when_short_and_capped_when_long() {
    let d = seed_003();
    for name in ["w0", "w13", "w14", "w23", "w24", "w35", "w45"] {
        let line = d
            .derivation
            .lines()
            .find(|l| l.trim().starts_with(&format!("dL/d{name} = ")))
            .expect("a gradient line");
        assert!(d.docs.gradient.contains(line.trim()), "{line}");
    }
    // What the gradient lines read is defined above them: t2, t3, t4, f3, f4.
    for def in ["t2 = ", "t3 = ", "t4 = ", "f3 = ", "f4 = "] {
        assert!(
            d.docs.gradient.contains(def),
            "{def} in\n{}",
            d.docs.gradient
        );
    }
    assert!(!d.docs.gradient.contains("Shortened"));
    assert!(d.docs.loss.contains("\nL = ") && d.docs.loss.contains("\nt1 = "));
    assert!(d.docs.forward.contains("f5 = sigmoid("));
    assert!(d.docs.gradient.starts_with("```text\n") && d.docs.gradient.ends_with("```"));

    let m = mnist();
    let block_lines = |doc: &str| doc.lines().filter(|l| !l.starts_with("```")).count();
    assert!(
        m.docs.gradient.contains("dL/dh.weight = δ"),
        "{}",
        m.docs.gradient
    );
    // (Complete: the closure of its first gradient line is nearly all of it.)
    for line in ["dL/dz.weight = δ2", "dL/dz.bias = δ1", "δ5 = δ4 · xᵀ"] {
        assert!(m.docs.gradient.contains(line), "{}", m.docs.gradient);
    }
    // MNIST's gradient lines read δ1, which reads the 10-class softmax's scalar
    // lines: the block grows to hold them (every name defined), within the hard cap.
    for doc in [&m.docs.forward, &m.docs.loss, &m.docs.gradient] {
        assert!(block_lines(doc) <= DOC_LINES_MAX + 3, "{doc}");
        assert!(doc.lines().all(|l| l.chars().count() <= DOC_LINE_CHARS));
        let missing = super::view_tests::undefined(doc, &super::view_tests::declared(&m));
        assert!(missing.is_empty(), "{missing:?} undefined in\n{doc}");
    }
    assert!(!m.docs.gradient.contains("defining"), "{}", m.docs.gradient);
}

/// Issue 19's reproduction: a reassigned binding's versions (`z⁽²⁾`, `z⁽³⁾`) can never
/// read like a user's `z_2`, no name is defined twice, and elements the output does
/// not read are not printed; LaTeX writes the versions as `z^{(2)}`.
#[test]
fn versions_never_collide_with_user_names_and_dead_lines_are_dropped() {
    let derived = derived(quote::quote! {
        struct N {
            input x[3]; param A[3][3];
            let z_2 = x[0] * 2.0; let mut z = x; z = A * z; z = A * z;
            output y = z[1] + z_2; loss = sq(y);
        }
    });
    let d = &derived.derivation;
    let lhs: Vec<&str> = text_lines(d).into_iter().map(|(lhs, _)| lhs).collect();
    let mut seen = std::collections::HashSet::new();
    for name in &lhs {
        assert!(seen.insert(*name), "{name} defined twice in\n{d}");
    }
    assert!(
        lhs.contains(&"z_2") && lhs.contains(&"z⁽²⁾[0]") && lhs.contains(&"z⁽³⁾[1]"),
        "{d}"
    );
    // z⁽³⁾[0] and z⁽³⁾[2] feed nothing.
    assert!(
        !lhs.contains(&"z⁽³⁾[0]") && !lhs.contains(&"z⁽³⁾[2]"),
        "{d}"
    );
    assert!(d.contains("y = z_2 + z⁽³⁾[1]"), "{d}");
    assert!(
        derived.derivation_latex.contains("z^{(3)}"),
        "{}",
        derived.derivation_latex
    );
    assert_eq!(latex::name("z⁽¹²⁾[1]"), "\\left(z^{(12)}\\right)_{1}");
}
