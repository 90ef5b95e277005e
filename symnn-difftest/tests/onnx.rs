//! ONNX export of every generated network (the random programs that together use the
//! whole DSL, in both tiers, and the hand-written ones): each model is decoded again
//! (interface and initializer names), and written with a batch of inputs and
//! `forward`'s outputs for `scripts/onnx_check.py`, which runs them through onnxruntime
//! when `SYMNN_ONNX_PYTHON` names a Python with `onnxruntime` and `numpy` (`.ci/run`
//! sets it up); without it the test says that it skipped that part. The root crate's
//! `tests/onnx.rs` does the same for the seeds, iris, digits and MNIST.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use symnn_difftest::CASES;

const ROWS: usize = 16;

/// Uniform in [-1.5, 1.5), rounded to f32 for f32 networks.
fn values(rng: &mut symnn::init::SplitMix64, n: usize, f32: bool) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let x = rng.next_f64() * 3.0 - 1.5;
            if f32 {
                f64::from(x as f32)
            } else {
                x
            }
        })
        .collect()
}

fn bytes(values: &[f64], f32: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for &v in values {
        if f32 {
            out.extend_from_slice(&(v as f32).to_le_bytes());
        } else {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

#[test]
fn every_generated_network_exports_and_matches_forward_in_onnxruntime() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("onnx-difftest");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = symnn::init::SplitMix64::new(0x0DD5);
    let mut manifest = String::new();
    for case in CASES {
        let net = case.net;
        let f32 = net.is_f32();
        let [p, i, _, o] = net.sizes();
        let params = values(&mut rng, p, f32);
        let inputs = values(&mut rng, ROWS * i, f32);
        let outputs: Vec<f64> = (0..ROWS)
            .flat_map(|r| net.forward(&params, &inputs[r * i..(r + 1) * i]))
            .collect();
        let onnx = net.to_onnx(&params);
        let model = symnn::onnx::decode(&onnx).unwrap();
        let graph = model.graph.unwrap();
        assert_eq!(
            graph.input[0].name.as_deref(),
            Some("input"),
            "{}",
            case.name
        );
        assert_eq!(
            graph.output[0].name.as_deref(),
            Some("output"),
            "{}",
            case.name
        );
        let outputs_made = graph.node.iter().flat_map(|n| &n.output);
        assert_eq!(
            outputs_made.filter(|n| *n == "output").count(),
            1,
            "{}: one node makes the output",
            case.name
        );
        let name = case.name;
        std::fs::write(dir.join(format!("{name}.onnx")), &onnx).unwrap();
        std::fs::write(dir.join(format!("{name}.input")), bytes(&inputs, f32)).unwrap();
        std::fs::write(dir.join(format!("{name}.expected")), bytes(&outputs, f32)).unwrap();
        let dtype = if f32 { "float32" } else { "float64" };
        writeln!(manifest, "{name} {dtype} {ROWS} {i} {o}").unwrap();
    }
    std::fs::write(dir.join("manifest.txt"), &manifest).unwrap();
    println!("{} models in {}", CASES.len(), dir.display());
    let Some(python) = std::env::var_os("SYMNN_ONNX_PYTHON") else {
        println!(
            "onnxruntime check skipped: set SYMNN_ONNX_PYTHON to a Python with onnxruntime \
             and numpy (`.ci/run` makes a venv) to run scripts/onnx_check.py"
        );
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/onnx_check.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&dir)
        .output()
        .expect("runs python");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "scripts/onnx_check.py failed");
}
