//! `derivation_latex()` and `graph_dot()` on generated networks: the LaTeX has one row
//! per line of `derivation()`, the DOT parses and lays out (with `layout-rs`, the
//! renderer of `examples/explain.rs`), and both are reachable through `symnn::Model`.
use symnn::{network, Model};

network! {
    /// Seed 003.
    pub struct Seed003 {
        input x1, x2;
        target y;
        param w0 = 0.1, w13 = 0.2, w14 = 0.8, w23 = 0.6, w24 = 0.4, w35 = 0.1, w45 = 0.5;
        let f3 = sigmoid((x1 * w13 + w0) + (x2 * w23 + w0));
        let f4 = sigmoid((x1 * w14 + w0) + (x2 * w24 + w0));
        output f5 = sigmoid((f3 * w35 + w0) + (f4 * w45 + w0));
        loss = -(y * ln(f5) + (1.0 - y) * ln(1.0 - f5));
    }
}

network! {
    /// A wide layer on the tensor tier.
    pub struct Wide {
        type Float = f32;
        input x[64];
        target k;
        let h = dense(x, 32, tanh);
        output z = dense(h, 10, identity);
        loss = sparse_cross_entropy(z, k);
    }
}

network! {
    /// Issue 19's 4-16-3 network: the scalar tier (the default for its size), whose
    /// derivation reads in matrix form.
    pub struct Small {
        input x[4];
        target t[3];
        let h = dense(x, 16, tanh);
        output y = dense(h, 3, identity);
        loss = cross_entropy(y, t);
    }
}

network! {
    /// The same network with the per-element derivation lines.
    #[symnn(derivation = "elements")]
    pub struct SmallElements {
        input x[4];
        target t[3];
        let h = dense(x, 16, tanh);
        output y = dense(h, 3, identity);
        loss = cross_entropy(y, t);
    }
}

/// Through the trait, as generic code sees it.
fn inspect<M: Model>() -> (&'static str, &'static str, &'static str) {
    (M::derivation(), M::derivation_latex(), M::graph_dot())
}

/// The number of `lhs = rhs` lines of a text derivation.
fn text_lines(derivation: &str) -> usize {
    derivation
        .lines()
        .filter(|l| l.starts_with("  ") && l.contains(" = "))
        .count()
}

fn check_latex(derivation: &str, latex: &str) {
    let body = latex
        .trim()
        .strip_prefix("\\begin{aligned}\n")
        .and_then(|b| b.strip_suffix("\n\\end{aligned}"))
        .unwrap_or_else(|| panic!("not an aligned block:\n{latex}"));
    let rows = body.lines().filter(|l| l.contains(" &= ")).count();
    assert_eq!(rows, text_lines(derivation), "{derivation}\n{latex}");
    assert_eq!(latex.matches('{').count(), latex.matches('}').count());
    assert_eq!(
        latex.matches("\\left").count(),
        latex.matches("\\right").count()
    );
}

/// Parses the DOT with layout-rs and lays it out; returns the SVG.
fn layout(dot: &str) -> String {
    let mut parser = layout::gv::DotParser::new(dot);
    let graph = parser
        .process()
        .unwrap_or_else(|e| panic!("layout-rs cannot parse the DOT: {e}\n{dot}"));
    let mut builder = layout::gv::GraphBuilder::new();
    builder.visit_graph(&graph);
    let mut visual = builder.get();
    let mut svg = layout::backends::svg::SVGWriter::new();
    visual.do_it(false, false, false, &mut svg);
    svg.finalize()
}

#[test]
fn seed_003_latex_and_graph() {
    let (derivation, latex, dot) = inspect::<Seed003>();
    assert_eq!(derivation, Seed003::derivation());
    assert_eq!(latex, Seed003::derivation_latex());
    assert_eq!(dot, Seed003::graph_dot());
    check_latex(derivation, latex);
    for name in [
        "w_{0}", "w_{13}", "w_{14}", "w_{23}", "w_{24}", "w_{35}", "w_{45}",
    ] {
        assert!(
            latex.contains(&format!("\\frac{{\\partial L}}{{\\partial {name}}} &= ")),
            "no row for dL/d{name}:\n{latex}"
        );
    }
    let svg = layout(dot);
    assert!(svg.starts_with("<?xml") && svg.contains("</svg>"));
    // Every parameter, the loss and every gradient is drawn.
    for name in Seed003::PARAM_NAMES {
        assert!(svg.contains(&format!(">{name}<")), "{name} not drawn");
        assert!(
            svg.contains(&format!(">dL/d{name} =<")),
            "dL/d{name} not drawn"
        );
    }
    assert!(svg.contains(">L<"));
}

#[test]
fn tensor_net_latex_and_graph_stay_small() {
    let (derivation, latex, dot) = inspect::<Wide>();
    check_latex(derivation, latex);
    assert!(
        latex.contains("h &= \\tanh\\left(W^{(h)} x + b^{(h)}\\right)"),
        "{latex}"
    );
    assert!(
        latex.contains("\\frac{\\partial L}{\\partial W^{(h)}} &= \\delta_{"),
        "{latex}"
    );
    assert!(latex.lines().count() < 80, "{latex}");
    let svg = layout(dot);
    assert!(svg.contains(">h.weight<"), "the weight group is one node");
    assert!(dot.lines().filter(|l| l.contains("[label=")).count() < 100);
}

/// Below the tensor threshold, `dense` layers read as matrix formulas in all three
/// views; `derivation = "elements"` prints one line per element; the code (and so
/// every number) is the same.
#[test]
fn scalar_tier_layers_read_in_matrix_form() {
    let (derivation, latex, dot) = inspect::<Small>();
    check_latex(derivation, latex);
    for line in [
        "  h = tanh(h.weight · x + h.bias)\n",
        "  δ5 = δ4 · xᵀ\n",
        "  dL/dh.weight = δ5\n",
    ] {
        assert!(derivation.contains(line), "{line:?} in\n{derivation}");
    }
    assert!(text_lines(derivation) < 40, "{derivation}");
    assert!(latex.contains("h &= \\tanh\\left(W^{(h)} x + b^{(h)}\\right)"));
    let svg = layout(dot);
    assert!(svg.contains(">h.weight<") && svg.contains(">dL/dh.weight =<"));

    let (elements, latex, dot) = inspect::<SmallElements>();
    check_latex(elements, latex);
    assert!(
        elements.contains("  dL/dh.weight[0][0] = x[0]*t"),
        "{elements}"
    );
    assert!(text_lines(elements) > 16 + 3 + 1 + 131, "{elements}");
    layout(dot);

    let matrix = Small::with_seed(5);
    let element = SmallElements::from_params(matrix.params);
    let (x, t) = ([0.3, -0.2, 0.9, 0.1], [0.0, 1.0, 0.0]);
    assert_eq!(matrix.gradient(&x, &t), element.gradient(&x, &t));
}
