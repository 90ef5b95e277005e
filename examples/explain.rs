//! Seed 003, explained the way its SymPy notebook does: the training function, the
//! loss, the common subexpressions and the partial derivatives, then their values at
//! the notebook's point, checked against the notebook's own closed forms; then the
//! LaTeX of the derivation and the forward/backward graph as an SVG.
//!
//! ```text
//! cargo run --example explain                      # SVG to target/explain/seed003_graph.svg
//! cargo run --example explain -- path/to/graph.svg # SVG elsewhere
//! ```
//!
//! The README's "See the mathematics" section is this example's LaTeX output and
//! `docs/images/seed003_graph.svg` is its SVG (`-- docs/images/seed003_graph.svg`).
//! The SVG is laid out by `layout-rs`, a pure-Rust Graphviz renderer (no `dot` binary
//! needed); `Seed003::graph_dot()` also works with Graphviz itself (`dot -Tsvg`).
use std::path::PathBuf;

use symnn::network;

network! {
    /// 2-2-1 classifier with one shared bias.
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

/// The notebook's point: features, target, and its "random values for weights and bias".
const X: [f64; 2] = [0.35, 0.9];
const Y: [f64; 1] = [1.0];

/// `f5` at the initial weights, as the notebook prints it.
const NOTEBOOK_F5: f64 = 0.649864477526152;

/// The notebook's SymPy results (`f5`, `L` and `diff(L, w)` as printed, with
/// `E3 = e^(-2 w0 - 0.35 w13 - 0.9 w23)`, `E4 = e^(-2 w0 - 0.35 w14 - 0.9 w24)`,
/// `E5 = e^(-2 w0 - w35/(E3 + 1) - w45/(E4 + 1))`), evaluated independently of the
/// generated code: `(f5, L, [dL/dw0, dL/dw13, ..., dL/dw45])`.
fn notebook(p: &[f64; 7]) -> (f64, f64, [f64; 7]) {
    let [w0, w13, w14, w23, w24, w35, w45] = *p;
    let e3 = (-2.0 * w0 - 0.35 * w13 - 0.9 * w23).exp();
    let e4 = (-2.0 * w0 - 0.35 * w14 - 0.9 * w24).exp();
    let e5 = (-2.0 * w0 - w35 / (e3 + 1.0) - w45 / (e4 + 1.0)).exp();
    let f5 = 1.0 / (e5 + 1.0);
    let d_w0 = e5
        * (-2.0 * e3 * w35 / (e3 + 1.0).powi(2) - 2.0 * e4 * w45 / (e4 + 1.0).powi(2) - 2.0)
        / (e5 + 1.0);
    let d_hidden = |x: f64, e: f64, w: f64| -x * e * e5 * w / ((e + 1.0).powi(2) * (e5 + 1.0));
    let grads = [
        d_w0,
        d_hidden(0.35, e3, w35),
        d_hidden(0.35, e4, w45),
        d_hidden(0.9, e3, w35),
        d_hidden(0.9, e4, w45),
        -e5 / ((e3 + 1.0) * (e5 + 1.0)),
        -e5 / ((e4 + 1.0) * (e5 + 1.0)),
    ];
    (f5, -f5.ln(), grads)
}

/// The sections of `derivation()` under the notebook's headings.
fn print_notebook_style(derivation: &str) {
    let headings = [
        ("forward:", "Training function (model)"),
        ("loss:", "Loss function (binary cross-entropy)"),
        (
            "common subexpressions:",
            "Common subexpressions (shared by the loss and the gradient)",
        ),
        ("adjoints (tensors of the backward pass):", "Adjoints"),
        ("gradient:", "Partial derivatives"),
    ];
    for line in derivation.lines() {
        match headings.iter().find(|(section, _)| *section == line) {
            Some((_, heading)) => println!("{heading}\n{}", "-".repeat(heading.len())),
            None => println!("{line}"),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let svg_path = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from("target/explain/seed003_graph.svg"),
        PathBuf::from,
    );

    println!("Seed 003, as symnn derives it at compile time\n");
    print_notebook_style(Seed003::derivation());

    println!("Values at the notebook's point (x1 = 0.35, x2 = 0.9, y = 1)");
    println!("-----------------------------------------------------------");
    let net = Seed003::new();
    let (nb_f5, nb_loss, nb_grads) = notebook(&net.params);
    let f5 = net.forward(&X)[0];
    let (loss, grads) = net.gradient(&X, &Y);
    println!(
        "{:<8} {:>20} {:>20} {:>9}",
        "", "symnn", "notebook formula", "|diff|"
    );
    let row = |name: &str, ours: f64, theirs: f64| {
        println!(
            "{name:<8} {ours:>20.15} {theirs:>20.15} {:>9.1e}",
            (ours - theirs).abs()
        );
    };
    row("f5", f5, nb_f5);
    println!(
        "{:<8} {:>20} {NOTEBOOK_F5:>20.15}   (printed by the notebook)",
        "", ""
    );
    row("L", loss, nb_loss);
    let mut worst = (f5 - NOTEBOOK_F5).abs().max((loss - nb_loss).abs());
    for ((name, ours), theirs) in Seed003::PARAM_NAMES.iter().zip(grads).zip(nb_grads) {
        row(&format!("dL/d{name}"), ours, theirs);
        worst = worst.max((ours - theirs).abs());
    }
    println!("largest difference: {worst:.1e}\n");
    assert!(worst < 1e-12, "symnn and the notebook disagree");

    println!("LaTeX (Seed003::derivation_latex())");
    println!("-----------------------------------");
    println!("{}", Seed003::derivation_latex());

    let svg = render_svg(Seed003::graph_dot())?;
    if let Some(dir) = svg_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&svg_path, svg)?;
    println!(
        "The forward/backward graph (Seed003::graph_dot()) is drawn in {}",
        svg_path.display()
    );
    Ok(())
}

/// DOT to SVG with `layout-rs` (pure Rust).
fn render_svg(dot: &str) -> Result<String, String> {
    let mut parser = layout::gv::DotParser::new(dot);
    let graph = parser.process()?;
    let mut builder = layout::gv::GraphBuilder::new();
    builder.visit_graph(&graph);
    let mut visual = builder.get();
    let mut svg = layout::backends::svg::SVGWriter::new();
    visual.do_it(false, false, false, &mut svg);
    Ok(svg.finalize())
}
