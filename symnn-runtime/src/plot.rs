//! SVG plots (cargo feature `plot`): training curves and generic x-y charts.
//!
//! Plots are for looking at a run, not for publication, so this uses `plotters`
//! with only its SVG backend and line series: no system fonts, no image codecs,
//! pure Rust. SVG text is rendered by the viewer. The charts are drawn into a
//! string and written in one go.

use crate::History;
use plotters::prelude::*;
use std::fmt;
use std::ops::Range;
use std::path::Path;

const COLORS: [RGBColor; 6] = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];

/// How a [`Series`] is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Style {
    /// Points joined by straight lines, in the given order.
    #[default]
    Line,
    /// Unconnected dots.
    Points,
}

/// One named series of `(x, y)` points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// The points.
    pub points: Vec<(f64, f64)>,
    /// Line or dots.
    pub style: Style,
}

impl Series {
    /// A line through `points`.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            style: Style::Line,
        }
    }
    /// Dots at `points`.
    pub fn points(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            style: Style::Points,
        }
    }
}

/// Plots `series` into one chart and writes it as SVG to `path`. Non-finite points
/// are skipped.
pub fn plot_xy(
    path: impl AsRef<Path>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        draw_chart(&root, title, x_label, y_label, series)?;
        root.present().map_err(draw_error)?;
    }
    write(path.as_ref(), &svg)
}

/// Plots the training curves of `history` as SVG: losses (train and, if present,
/// evaluation) against the epoch on the left, the metric on the right if there is one.
pub fn plot_history(history: &History, path: impl AsRef<Path>) -> Result<(), PlotError> {
    let points = |f: &dyn Fn(&crate::EpochReport) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .reports
            .iter()
            .filter_map(|r| Some((r.epoch as f64, f(r)?)))
            .collect()
    };
    let mut losses = vec![Series::line("train loss", points(&|r| Some(r.train_loss)))];
    let eval = points(&|r| r.eval_loss);
    if !eval.is_empty() {
        losses.push(Series::line("eval loss", eval));
    }
    let metric = points(&|r| r.metric);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, 450)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        if metric.is_empty() {
            draw_chart(&root, "loss", "epoch", "loss", &losses)?;
        } else {
            let (left, right) = root.split_horizontally(550);
            draw_chart(&left, "loss", "epoch", "loss", &losses)?;
            let name = history.metric_name.unwrap_or("metric");
            draw_chart(&right, name, "epoch", name, &[Series::line(name, metric)])?;
        }
        root.present().map_err(draw_error)?;
    }
    write(path.as_ref(), &svg)
}

/// Scatter plot of predictions against true values with the diagonal `y = x`, as
/// SVG: points on the diagonal are perfect predictions.
pub fn plot_prediction_vs_truth(
    path: impl AsRef<Path>,
    truth: &[f64],
    predicted: &[f64],
) -> Result<(), PlotError> {
    let points: Vec<(f64, f64)> = truth
        .iter()
        .copied()
        .zip(predicted.iter().copied())
        .collect();
    let all = truth
        .iter()
        .chain(predicted)
        .copied()
        .filter(|v| v.is_finite());
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let mut series = vec![Series::points("samples", points)];
    if lo <= hi {
        series.push(Series::line("y = x", vec![(lo, lo), (hi, hi)]));
    }
    plot_xy(path, "prediction vs truth", "truth", "prediction", &series)
}

fn draw_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let finite = || {
        series
            .iter()
            .flat_map(|s| &s.points)
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let x_range = padded(finite().map(|p| p.0));
    let y_range = padded(finite().map(|p| p.1));
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range, y_range)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(draw_error)?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite());
        let drawn = match s.style {
            Style::Line => chart.draw_series(LineSeries::new(pts, color.stroke_width(2))),
            Style::Points => chart.draw_series(pts.map(|p| Circle::new(p, 3, color.filled()))),
        }
        .map_err(draw_error)?;
        drawn.label(s.name.as_str()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
        });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(draw_error)?;
    Ok(())
}

/// The range of `values` with 5% margins (a unit range around a constant; `0..1` if empty).
fn padded(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if lo > hi {
        0.0..1.0
    } else if lo == hi {
        lo - 0.5..hi + 0.5
    } else {
        let pad = (hi - lo) * 0.05;
        lo - pad..hi + pad
    }
}

fn write(path: &Path, svg: &str) -> Result<(), PlotError> {
    std::fs::write(path, svg).map_err(|e| PlotError::Io {
        path: path.display().to_string(),
        source: e,
    })
}

fn draw_error(e: impl std::error::Error) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Why a plot could not be made.
#[derive(Debug)]
#[non_exhaustive]
pub enum PlotError {
    /// Writing the file failed.
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `plotters` failed to draw.
    Draw(String),
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlotError::Io { path, source } => write!(f, "{path}: {source}"),
            PlotError::Draw(message) => write!(f, "plotting failed: {message}"),
        }
    }
}

impl std::error::Error for PlotError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PlotError::Io { source, .. } => Some(source),
            PlotError::Draw(_) => None,
        }
    }
}
