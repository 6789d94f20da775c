//! The mapping pane: each segmentation series of the selected patient and the CT series it
//! was resolved to, with how sure that is.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Paragraph};

use super::app::App;

pub fn draw(f: &mut Frame, app: &App, area: Rect, focused: bool) {
    let t = &app.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(focused))
        .title(Span::styled(" Masks → source CT ", t.title()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    f.render_widget(
        Paragraph::new("Segmentation mapping is not available yet.").style(t.dim()),
        inner,
    );
}
