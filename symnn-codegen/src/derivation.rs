//! The human-readable derivation returned by the generated `derivation()`: what the
//! SymPy notebooks print, with the user's names — forward definitions, the loss, the
//! common subexpressions as `t0 = ...`, and one `dL/d<name> = ...` per parameter.

use std::collections::HashMap;
use std::fmt::Write;

use crate::graph::{Graph, Node, NodeId};
use crate::lower::Program;

/// Renders the derivation of `program` whose parameter gradients are `grads`.
pub fn render(name: &str, program: &Program, grads: &[NodeId]) -> String {
    let g = &program.graph;
    let mut printer = Printer {
        g,
        names: HashMap::new(),
    };
    let element_names = |slots: &[crate::lower::Slot]| -> Vec<String> {
        slots
            .iter()
            .flat_map(|s| (0..s.shape.len()).map(move |i| s.element_name(i)))
            .collect()
    };
    let (inputs, targets, params) = (
        element_names(&program.inputs),
        element_names(&program.targets),
        element_names(&program.params),
    );
    for (id, node) in g.iter() {
        let name = match node {
            Node::Input(k) => inputs.get(k as usize),
            Node::Target(k) => targets.get(k as usize),
            Node::Param(k) => params.get(k as usize),
            _ => None,
        };
        if let Some(name) = name {
            printer.names.insert(id, name.clone());
        }
    }

    // Expressions nested deeper than this get a temporary name, so printing (which
    // recurses) stays shallow even for a 1000-term sum.
    const MAX_DEPTH: usize = 24;
    let mut depth = vec![0usize; g.len()];
    let mut forced = vec![false; g.len()];
    let mut n_temps = 0;
    for (id, node) in g.iter() {
        if node.is_leaf() {
            continue;
        }
        let d = 1 + node.children().map(|c| depth[c.index()]).max().unwrap_or(0);
        if d > MAX_DEPTH {
            forced[id.index()] = true;
            printer.names.insert(id, format!("t{n_temps}"));
            n_temps += 1;
            depth[id.index()] = 0;
        } else {
            depth[id.index()] = d;
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "network {name}: {} params, {} inputs, {} targets, {} outputs",
        program.num_params(),
        program.num_inputs(),
        program.num_targets(),
        program.output.elems.len()
    );
    out.push_str("\nforward:\n");
    let mut defined = Vec::new();
    for (binding, id) in &program.bindings {
        if printer.names.contains_key(id) {
            // The same value under a second name (hash-consing found it equal).
            let _ = writeln!(out, "  {binding} = {}", printer.names[id]);
            continue;
        }
        let _ = writeln!(out, "  {binding} = {}", printer.expr(*id, 0, true));
        printer.names.insert(*id, binding.clone());
        defined.push(*id);
    }
    // Common subexpressions of the loss and gradient: non-trivial nodes used more than
    // once that have no user name. Named before the loss is printed so it uses them too.
    let mut roots = vec![program.loss];
    roots.extend(grads);
    let live = g.reachable(&roots);
    let mut uses = vec![0usize; g.len()];
    for (id, node) in g.iter() {
        if live[id.index()] {
            for c in node.children() {
                uses[c.index()] += 1;
            }
        }
    }
    for &r in &roots {
        uses[r.index()] += 1;
    }
    let mut table = Vec::new();
    for (id, node) in g.iter() {
        let trivial = node.is_leaf() || matches!(node, Node::StopGradient(_) | Node::Neg(_));
        if live[id.index()] && uses[id.index()] >= 2 && !trivial && !printer.names.contains_key(&id)
        {
            let t = format!("t{}", table.len());
            table.push(format!("{t} = {}", printer.expr(id, 0, true)));
            printer.names.insert(id, t);
        }
    }
    let loss_text = printer.expr(program.loss, 0, !printer.names.contains_key(&program.loss));
    let _ = writeln!(out, "\nloss:\n  L = {loss_text}");
    printer
        .names
        .entry(program.loss)
        .or_insert_with(|| "L".to_string());
    if !table.is_empty() {
        out.push_str("\ncommon subexpressions:\n");
        for line in &table {
            let _ = writeln!(out, "  {line}");
        }
    }
    out.push_str("\ngradient:\n");
    for (name, &grad) in program.param_names().iter().zip(grads) {
        let _ = writeln!(out, "  dL/d{name} = {}", printer.expr(grad, 0, false));
    }
    out
}

struct Printer<'a> {
    g: &'a Graph,
    names: HashMap<NodeId, String>,
}

// Precedence levels: sums 1, products 2, unary minus 3, atoms 4.
impl Printer<'_> {
    /// `id` as infix text; wrapped in parentheses if its precedence is below `min`.
    /// `define` prints the definition even if the node has a name.
    fn expr(&self, id: NodeId, min: u8, define: bool) -> String {
        if !define {
            if let Some(name) = self.names.get(&id) {
                return name.clone();
            }
        }
        let (text, prec) = self.infix(self.g.node(id));
        if prec < min {
            format!("({text})")
        } else {
            text
        }
    }

    fn infix(&self, node: Node) -> (String, u8) {
        let e = |id, min| self.expr(id, min, false);
        match node {
            Node::Const(bits) => {
                let v = f64::from_bits(bits);
                (format!("{v}"), if v < 0.0 { 3 } else { 4 })
            }
            Node::Input(k) => (format!("input[{k}]"), 4),
            Node::Target(k) => (format!("target[{k}]"), 4),
            Node::Param(k) => (format!("params[{k}]"), 4),
            Node::Neg(a) => (format!("-{}", e(a, 3)), 3),
            Node::Add(a, b) => {
                // Constants read better last in a sum, first in a product.
                let (a, b) = if self.g.as_const(a).is_some() {
                    (b, a)
                } else {
                    (a, b)
                };
                (format!("{} + {}", e(a, 1), e(b, 2)), 1)
            }
            Node::Sub(a, b) => (format!("{} - {}", e(a, 1), e(b, 2)), 1),
            Node::Mul(a, b) => {
                let (a, b) = if self.g.as_const(b).is_some() {
                    (b, a)
                } else {
                    (a, b)
                };
                (format!("{}*{}", e(a, 2), e(b, 3)), 2)
            }
            Node::Div(a, b) => (format!("{}/{}", e(a, 2), e(b, 3)), 2),
            Node::Call(f, a) => (format!("{}({})", f.name(), e(a, 0)), 4),
            Node::Powi(a, n) => (format!("{}^{n}", e(a, 4)), 4),
            Node::Pow(a, b) => (format!("{}^{}", e(a, 4), e(b, 4)), 4),
            Node::Max(a, b) => (format!("max({}, {})", e(a, 0), e(b, 0)), 4),
            Node::Min(a, b) => (format!("min({}, {})", e(a, 0), e(b, 0)), 4),
            Node::IfGt(a, b, t, f) => (
                format!(
                    "({} if {} > {} else {})",
                    e(t, 0),
                    e(a, 1),
                    e(b, 1),
                    e(f, 0)
                ),
                4,
            ),
            Node::IfGe(a, b, t, f) => (
                format!(
                    "({} if {} >= {} else {})",
                    e(t, 0),
                    e(a, 1),
                    e(b, 1),
                    e(f, 0)
                ),
                4,
            ),
            Node::StopGradient(a) => (e(a, 4), 4),
        }
    }
}
