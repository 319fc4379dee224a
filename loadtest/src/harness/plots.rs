//! PNG charts of a run, drawn with plotters' bitmap backend: latency
//! percentiles over time, connections over time, and RSS per process.
//! Text goes through ab_glyph with a TrueType font read at run time
//! (`TIDINGS_PLOT_FONT`, else DejaVu or Liberation where installed), so
//! no system font library is linked; with no font the charts are drawn
//! without text.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use super::report::RunReport;
use super::HarnessError;

const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers a font once; whether text can be drawn.
pub fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let candidates = std::env::var("TIDINGS_PLOT_FONT")
            .ok()
            .into_iter()
            .chain(FONTS.iter().map(|s| (*s).to_owned()));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                // plotters keeps fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Draws the three charts into `dir`; returns whether they carry text.
pub fn draw_all(report: &RunReport, dir: &Path) -> Result<bool, HarnessError> {
    let text = font_ready();
    let tl = &report.timeline;
    let pick = |f: fn(&super::report::Tick) -> f64| -> Vec<(f64, f64)> {
        tl.iter()
            .filter(|t| t.deliveries_per_sec > 0.0)
            .map(|t| (t.t_secs, f(t)))
            .collect()
    };
    line_chart(
        &dir.join("latency.png"),
        "send-to-receipt latency per second (live deliveries)",
        "ms",
        &[
            Series {
                name: "p50".into(),
                points: pick(|t| t.p50_ms),
            },
            Series {
                name: "p99".into(),
                points: pick(|t| t.p99_ms),
            },
            Series {
                name: "p99.9".into(),
                points: pick(|t| t.p999_ms),
            },
        ],
        text,
    )?;
    line_chart(
        &dir.join("connections.png"),
        "open connections and deliveries/s",
        "count",
        &[
            Series {
                name: "connections".into(),
                points: tl.iter().map(|t| (t.t_secs, t.connected as f64)).collect(),
            },
            Series {
                name: "deliveries/s".into(),
                points: tl
                    .iter()
                    .map(|t| (t.t_secs, t.deliveries_per_sec))
                    .collect(),
            },
        ],
        text,
    )?;
    let rss: Vec<Series> = report
        .processes
        .iter()
        .enumerate()
        .map(|(i, name)| Series {
            name: name.clone(),
            points: tl
                .iter()
                .map(|t| {
                    (
                        t.t_secs,
                        t.rss_bytes.get(i).copied().unwrap_or(0) as f64 / 1_048_576.0,
                    )
                })
                .collect(),
        })
        .collect();
    line_chart(
        &dir.join("rss.png"),
        "resident memory per process",
        "MiB",
        &rss,
        text,
    )?;
    Ok(text)
}

/// A line chart of `series` against seconds.
pub fn line_chart(
    path: &Path,
    title: &str,
    unit: &str,
    series: &[Series],
    text: bool,
) -> Result<(), HarnessError> {
    let err = |e: &dyn std::fmt::Display| HarnessError::Plot(e.to_string());
    let x_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 1.05;
    let root = BitMapBackend::new(path, (1000, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(16);
    if text {
        builder
            .caption(title, ("sans-serif", 22))
            .x_label_area_size(40)
            .y_label_area_size(70);
    }
    let mut chart = builder
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| err(&e))?;
    if text {
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc(unit)
            .draw()
            .map_err(|e| err(&e))?;
    } else {
        chart
            .configure_mesh()
            .x_labels(0)
            .y_labels(0)
            .draw()
            .map_err(|e| err(&e))?;
    }
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let drawn = chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?;
        if text {
            drawn.label(s.name.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        }
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_png_with_or_without_text() {
        let dir = tempdir();
        let s = [Series {
            name: "a".into(),
            points: vec![(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)],
        }];
        for text in [false, font_ready()] {
            let path = dir.join(format!("c{text}.png"));
            line_chart(&path, "t", "ms", &s, text).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(&bytes[1..4], b"PNG");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempdir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("tidings-plots-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
