#![cfg(feature = "plot")]
mod common;

use common::{temp_dir, LinReg};
use symnn_runtime::plot::{plot_history, plot_prediction_vs_truth, plot_xy, PlotError, Series};
use symnn_runtime::{metrics, Dataset, Sgd, Trainer};

#[test]
fn training_curves_and_xy_plots_are_written_as_svg() {
    let dir = temp_dir("plots");
    let rows: Vec<([f64; 2], [f64; 1])> = (0..20)
        .map(|i| ([i as f64 / 20.0, 1.0], [i as f64 / 10.0]))
        .collect();
    let data = Dataset::from_rows(&rows);
    let mut model = LinReg::<f64>::new(0.0, 0.0, 0.0);
    let history = Trainer::new(Sgd::new(0.1))
        .epochs(5)
        .batch_size(4)
        .metric("mae", metrics::mae)
        .fit(&mut model, &data, Some(&data))
        .unwrap();

    let curves = dir.join("curves.svg");
    plot_history(&history, &curves).unwrap();
    let svg = std::fs::read_to_string(&curves).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
    for text in ["train loss", "eval loss", "mae", "epoch"] {
        assert!(svg.contains(text), "missing {text:?}");
    }

    let truth: Vec<f64> = data.targets().to_vec();
    let predicted = metrics::predict(&model, &data);
    let scatter = dir.join("pred.svg");
    plot_prediction_vs_truth(&scatter, &truth, &predicted).unwrap();
    let svg = std::fs::read_to_string(&scatter).unwrap();
    assert!(svg.contains("prediction vs truth") && svg.contains("y = x"));
    assert!(svg.matches("<circle").count() >= 20, "one dot per sample");

    let xy = dir.join("xy.svg");
    let sine: Vec<(f64, f64)> = (0..50)
        .map(|i| (i as f64 * 0.1, (i as f64 * 0.1).sin()))
        .collect();
    plot_xy(
        &xy,
        "sine",
        "x",
        "sin x",
        &[
            Series::line("sin", sine),
            Series::points("origin", vec![(0.0, 0.0)]),
        ],
    )
    .unwrap();
    assert!(std::fs::read_to_string(&xy).unwrap().contains("sin x"));

    let err = plot_xy(dir.join("no/such/dir.svg"), "t", "x", "y", &[]).unwrap_err();
    assert!(
        matches!(err, PlotError::Io { .. }) && err.to_string().contains("dir.svg"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
