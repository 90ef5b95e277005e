//! `graph_dot()`: the derivation as a Graphviz DAG — one node per declared input,
//! target and parameter group and per derivation line (forward binding, common
//! subexpression, backward tensor `δk`, the loss, each `dL/dθ`), one edge per name a
//! line reads.
//!
//! Node classes (legend included in the graph): inputs (blue boxes), targets (yellow
//! boxes), parameters (green circles), forward values (grey boxes), adjoints — values
//! only the backward pass needs (pink boxes, reached by dashed red edges) —, the loss
//! (gold double circle) and the gradients (red boxes). The forward and backward parts
//! are `cluster_` subgraphs, which Graphviz draws as frames.
//!
//! Size: elements of one declaration, of one vector binding (`h[0]`, `h[1]`, ...) or of
//! one parameter group's gradient are one node, and tensor-tier layers are one line
//! each anyway. Above [`MAX_NODES`] nodes or [`MAX_EDGES`] edges the common
//! subexpressions are contracted (their readers get edges from what they read); if
//! that is still too many nodes, whole classes are drawn as one node each, largest
//! first (all parameters, all gradients, ...; never the loss), until it fits. Edges
//! beyond [`MAX_EDGES`] are left out. A note node says what was cut.
//!
//! The DOT subset is plain enough for `layout-rs` (the pure-Rust renderer the `explain`
//! example uses): `shape` is `box`, `circle` or `doublecircle`, colours are `#rrggbb`,
//! labels are quoted strings with `\n` line breaks.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::{Derivation, Rendered, Section};
use crate::graph::{Node, NodeId};
use crate::resolved::Slot;

/// The most nodes `graph_dot()` draws (the legend not counted).
pub const MAX_NODES: usize = 150;

/// The most edges `graph_dot()` draws.
pub const MAX_EDGES: usize = 600;

/// Characters of a formula in a node's label before it is cut with `…`.
const LABEL_CHARS: usize = 72;

/// Characters per line of a node's label.
const LABEL_WIDTH: usize = 30;

/// What a node of the graph is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Loss,
    Gradient,
    Param,
    Input,
    Target,
    Forward,
    Adjoint,
}

impl Class {
    const ALL: [Class; 7] = [
        Class::Input,
        Class::Target,
        Class::Param,
        Class::Forward,
        Class::Loss,
        Class::Adjoint,
        Class::Gradient,
    ];

    /// The DOT attributes of the class.
    fn attributes(self) -> &'static str {
        match self {
            Class::Input => "shape=box, style=filled, fillcolor=\"#cfe2ff\"",
            Class::Target => "shape=box, style=filled, fillcolor=\"#ffe8a3\"",
            Class::Param => "shape=circle, style=filled, fillcolor=\"#c8f0c0\"",
            Class::Forward => "shape=box, style=\"rounded,filled\", fillcolor=\"#eeeeee\"",
            Class::Loss => "shape=doublecircle, style=filled, fillcolor=\"#ffd36e\"",
            Class::Adjoint => {
                "shape=box, style=\"rounded,filled\", fillcolor=\"#fcd5d5\", color=\"#b03a2e\""
            }
            Class::Gradient => {
                "shape=box, style=\"filled,bold\", fillcolor=\"#f4a3a3\", color=\"#b03a2e\""
            }
        }
    }

    fn legend(self) -> &'static str {
        match self {
            Class::Input => "input",
            Class::Target => "target",
            Class::Param => "parameter",
            Class::Forward => "forward value",
            Class::Loss => "loss",
            Class::Adjoint => "adjoint (backward)",
            Class::Gradient => "dL/dθ",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Class::Input => "inputs",
            Class::Target => "targets",
            Class::Param => "parameters",
            Class::Forward => "forward values",
            Class::Loss => "losses",
            Class::Adjoint => "adjoints",
            Class::Gradient => "gradients",
        }
    }

    fn backward(self) -> bool {
        matches!(self, Class::Adjoint | Class::Gradient)
    }
}

/// Where a derivation line or a leaf ends up in the graph.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    /// A declaration (all its elements).
    Slot(u8, usize),
    /// All elements `name[...]` of a binding or of a group's gradient lines.
    Group(Section, String),
    /// One line.
    Line(usize),
}

struct GraphNode {
    class: Class,
    label: String,
    /// The first line of a group, and how many lines it stands for.
    members: usize,
    /// Sources (node indices).
    sources: BTreeSet<usize>,
    /// A common subexpression (contracted first when the graph is too big).
    table: bool,
}

/// The DOT text for `plan`, whose lines are `lines` (text style, printed order).
pub fn render(plan: &Derivation<'_>, lines: &[Rendered]) -> String {
    let program = plan.program();
    let g = &program.graph;
    let mut nodes: Vec<GraphNode> = Vec::new();
    let mut index: BTreeMap<Key, usize> = BTreeMap::new();
    fn intern(
        (nodes, index): (&mut Vec<GraphNode>, &mut BTreeMap<Key, usize>),
        key: Key,
        class: Class,
        label: String,
    ) -> usize {
        *index.entry(key).or_insert_with(|| {
            nodes.push(GraphNode {
                class,
                label,
                members: 0,
                sources: BTreeSet::new(),
                table: false,
            });
            nodes.len() - 1
        })
    }

    // Leaves: every declaration, in declaration order, whether read or not.
    let slots: [(u8, &[Slot], Class); 3] = [
        (0, &program.inputs, Class::Input),
        (1, &program.targets, Class::Target),
        (2, &program.params, Class::Param),
    ];
    let mut leaf_node: BTreeMap<NodeId, usize> = BTreeMap::new();
    for (kind, list, class) in slots {
        for (k, slot) in list.iter().enumerate() {
            let label = match slot.shape.dims().as_slice() {
                [] => slot.name.clone(),
                dims => {
                    let dims: Vec<String> = dims.iter().map(ToString::to_string).collect();
                    format!("{}\\n[{}]", slot.name, dims.join("×"))
                }
            };
            intern((&mut nodes, &mut index), Key::Slot(kind, k), class, label);
        }
    }
    let slot_of = |list: &[Slot], element: u32| {
        let element = element as usize;
        list.iter()
            .position(|s| (s.offset..s.offset + s.shape.len()).contains(&element))
    };
    for (id, node) in g.iter() {
        let found = match node {
            Node::Input(k) => slot_of(&program.inputs, k).map(|s| (0, s)),
            Node::Target(k) => slot_of(&program.targets, k).map(|s| (1, s)),
            Node::Param(k) => slot_of(&program.params, k).map(|s| (2, s)),
            _ => super::leaf_slot(program, id).and_then(|slot| {
                slots.iter().find_map(|(kind, list, _)| {
                    list.iter()
                        .position(|s| std::ptr::eq(s, slot))
                        .map(|k| (*kind, k))
                })
            }),
        };
        if let Some((kind, k)) = found {
            leaf_node.insert(id, index[&Key::Slot(kind, k)]);
        }
    }

    // Lines.
    let mut line_node = vec![0usize; lines.len()];
    let mut definer: BTreeMap<NodeId, usize> = BTreeMap::new();
    for (k, r) in lines.iter().enumerate() {
        let class = match r.section {
            Section::Forward => Class::Forward,
            Section::Loss => Class::Loss,
            Section::Adjoints => Class::Adjoint,
            Section::Gradient => Class::Gradient,
            Section::Table => match r.defines {
                Some(id) if !plan.is_forward(id) => Class::Adjoint,
                _ => Class::Forward,
            },
        };
        let key = match (r.section, r.lhs.split_once('[')) {
            (Section::Forward | Section::Gradient, Some((base, _))) => {
                Key::Group(r.section, base.to_string())
            }
            _ => Key::Line(k),
        };
        let label = if r.section == Section::Loss {
            // The loss circle stays small: its formula is in derivation().
            r.lhs.clone()
        } else {
            label(&r.lhs, &r.rhs)
        };
        let n = intern((&mut nodes, &mut index), key, class, label);
        nodes[n].members += 1;
        nodes[n].table = r.section == Section::Table;
        line_node[k] = n;
        if let Some(id) = r.defines {
            definer.insert(id, n);
        }
    }
    for (k, r) in lines.iter().enumerate() {
        let n = line_node[k];
        for id in &r.refs {
            let source = definer.get(id).or_else(|| leaf_node.get(id)).copied();
            if let Some(source) = source.filter(|&s| s != n) {
                nodes[n].sources.insert(source);
            }
        }
    }
    for node in &mut nodes {
        if node.members > 1 {
            node.label = format!("{}\\n(+{} more)", node.label, node.members - 1);
        }
    }
    let total = nodes.len();

    // The size cap: contract the common subexpressions, then merge whole classes.
    let mut keep: Vec<bool> = vec![true; nodes.len()];
    let all_edges: usize = nodes.iter().map(|n| n.sources.len()).sum();
    let mut remarks: Vec<String> = Vec::new();
    if nodes.len() > MAX_NODES || all_edges > MAX_EDGES {
        let tables = nodes.iter().filter(|n| n.table).count();
        for (k, node) in nodes.iter().enumerate() {
            keep[k] = !node.table;
        }
        if tables > 0 {
            remarks.push(format!("{tables} common subexpressions contracted"));
        }
    }
    // Sources through contracted nodes (memoised; the graph is acyclic).
    let mut resolved: Vec<Option<BTreeSet<usize>>> = vec![None; nodes.len()];
    fn sources_of(
        k: usize,
        nodes: &[GraphNode],
        keep: &[bool],
        resolved: &mut Vec<Option<BTreeSet<usize>>>,
    ) -> BTreeSet<usize> {
        if let Some(done) = &resolved[k] {
            return done.clone();
        }
        let mut out = BTreeSet::new();
        for &s in &nodes[k].sources {
            if keep[s] {
                out.insert(s);
            } else {
                out.extend(sources_of(s, nodes, keep, resolved));
            }
        }
        resolved[k] = Some(out.clone());
        out
    }
    // Each kept node's representative: itself, or the one node its class is merged into.
    let mut rep: Vec<usize> = (0..nodes.len()).collect();
    let count =
        |keep: &[bool], rep: &[usize]| (0..keep.len()).filter(|&k| keep[k] && rep[k] == k).count();
    let mut merged_classes = Vec::new();
    while count(&keep, &rep) > MAX_NODES {
        // Merge the largest class not merged yet (never the loss).
        let largest = [
            Class::Param,
            Class::Gradient,
            Class::Forward,
            Class::Adjoint,
            Class::Input,
            Class::Target,
        ]
        .into_iter()
        .filter(|c| !merged_classes.contains(c))
        .max_by_key(|&c| {
            let n = (0..nodes.len())
                .filter(|&k| keep[k] && nodes[k].class == c)
                .count();
            (n, std::cmp::Reverse(c))
        });
        let Some(class) = largest else { break };
        merged_classes.push(class);
        let members: Vec<usize> = (0..nodes.len())
            .filter(|&k| keep[k] && nodes[k].class == class)
            .collect();
        let Some(&first) = members.first() else {
            continue;
        };
        for &k in &members {
            rep[k] = first;
        }
        let names: Vec<&str> = members
            .iter()
            .take(3)
            .map(|&k| nodes[k].label.split(" =").next().unwrap_or(""))
            .collect();
        nodes[first].label = format!(
            "{} {}\\n({}, …)",
            members.len(),
            class.plural(),
            names.join(", ")
        );
        remarks.push(format!(
            "{} {} drawn as one node",
            members.len(),
            class.plural()
        ));
    }
    let mut edge_set: BTreeSet<(usize, usize)> = BTreeSet::new();
    for k in 0..nodes.len() {
        if keep[k] {
            for s in sources_of(k, &nodes, &keep, &mut resolved) {
                if rep[s] != rep[k] {
                    edge_set.insert((rep[s], rep[k]));
                }
            }
        }
    }
    let mut edges: Vec<(usize, usize)> = edge_set.into_iter().collect();
    // In reading order: by target, then source.
    edges.sort_by_key(|&(s, k)| (k, s));
    let n_edges = edges.len();
    if n_edges > MAX_EDGES {
        edges.truncate(MAX_EDGES);
        remarks.push(format!("{MAX_EDGES} of {n_edges} edges shown"));
    }
    for k in 0..nodes.len() {
        keep[k] = keep[k] && rep[k] == k;
    }

    // The text.
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(plan.network_name()));
    out.push_str("  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=12];\n");
    out.push_str("  edge [color=\"#555555\"];\n");
    out.push_str("  subgraph cluster_legend {\n    label=\"legend\";\n");
    for class in Class::ALL {
        let _ = writeln!(
            out,
            "    legend_{} [label={}, {}];",
            class
                .legend()
                .split(|c: char| !c.is_ascii_alphabetic())
                .next()
                .unwrap_or(""),
            quote(class.legend()),
            class.attributes()
        );
    }
    // Invisible edges stack the legend in a column.
    let legend_ids: Vec<String> = Class::ALL
        .iter()
        .map(|c| {
            let word = c.legend().split(|c: char| !c.is_ascii_alphabetic()).next();
            format!("legend_{}", word.unwrap_or(""))
        })
        .collect();
    for pair in legend_ids.windows(2) {
        let _ = writeln!(
            out,
            "    {} -> {} [style=invis, color=\"#ffffff\"];",
            pair[0], pair[1]
        );
    }
    out.push_str("  }\n");
    for (cluster, title, backward) in [
        ("cluster_forward", "forward pass", false),
        ("cluster_backward", "backward pass", true),
    ] {
        let _ = writeln!(out, "  subgraph {cluster} {{\n    label={};", quote(title));
        for (k, node) in nodes.iter().enumerate() {
            if keep[k] && node.class.backward() == backward {
                let _ = writeln!(
                    out,
                    "    n{k} [label={}, {}];",
                    quote_label(&node.label),
                    node.class.attributes()
                );
            }
        }
        out.push_str("  }\n");
    }
    for &(s, k) in &edges {
        let style = if nodes[k].class.backward() {
            " [style=dashed, color=\"#b03a2e\"]"
        } else {
            ""
        };
        let _ = writeln!(out, "  n{s} -> n{k}{style};");
    }
    if !remarks.is_empty() {
        let _ = writeln!(
            out,
            "  omitted [shape=box, label={}];",
            quote(&format!(
                "cut down from {total} nodes: {}; the full derivation is derivation()",
                remarks.join(", ")
            ))
        );
    }
    out.push_str("}\n");
    out
}

/// A line's label: `lhs = rhs`, the formula cut at [`LABEL_CHARS`] and wrapped at
/// spaces every [`LABEL_WIDTH`] characters (DOT `\n`).
fn label(lhs: &str, rhs: &str) -> String {
    let mut formula: String = rhs.chars().take(LABEL_CHARS).collect();
    if rhs.chars().count() > LABEL_CHARS {
        formula.push('…');
    }
    let mut out = format!("{lhs} =");
    let mut width = LABEL_WIDTH;
    for word in formula.split(' ') {
        let len = word.chars().count();
        if width + len + 1 > LABEL_WIDTH && width > 0 && len > 0 {
            out.push_str("\\n");
            width = 0;
        } else {
            out.push(' ');
            width += 1;
        }
        out.push_str(word);
        width += len;
    }
    out
}

/// A DOT quoted string.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A DOT quoted label whose `\n` line breaks are kept.
fn quote_label(text: &str) -> String {
    let parts: Vec<String> = text
        .split("\\n")
        .map(|p| p.replace('\\', "\\\\").replace('"', "\\\""))
        .collect();
    format!("\"{}\"", parts.join("\\n"))
}
