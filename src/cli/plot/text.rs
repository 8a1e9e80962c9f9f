//! Text in PNG figures, laid out glyph by glyph at its advance and side
//! bearing.
//!
//! plotters' bitmap text (its `ab_glyph` font) drops each glyph's left side
//! bearing, truncates the pen position to whole pixels at every glyph and
//! adds pair kerning read from DejaVu's `kern` table, which pulls some
//! pairs together: "class" printed as "dass". SVG figures are unaffected
//! (the viewer lays the text out). [`Text`] wraps a bitmap backend and
//! draws and measures text itself, at the em size plotters' SVG
//! backend writes, so both formats place labels alike.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

/// A backend whose text is drawn with `font`; everything else goes to
/// `inner` unchanged.
pub struct Text<B> {
    inner: B,
    font: FontRef<'static>,
}

impl<B> Text<B> {
    /// `font_bytes` must be a TrueType font; when it cannot be read the
    /// figure could not show any text, so that is an error.
    pub fn new(inner: B, font_bytes: &'static [u8]) -> Result<Self, String> {
        let font = FontRef::try_from_slice(font_bytes)
            .map_err(|e| format!("cannot read the embedded font: {e}"))?;
        Ok(Text { inner, font })
    }

    /// The font for plotters' text `size`, at the em size plotters' SVG
    /// backend writes for it (`font-size` = size / 1.24).
    fn scale(&self, size: f64) -> PxScale {
        let em = (size / 1.24) as f32;
        let units = self.font.units_per_em().unwrap_or(2048.0);
        let height = self.font.height_unscaled();
        PxScale::from(em * height / units)
    }

    /// Each glyph's outline position (pen x from the text's left edge, on
    /// a baseline `ascent` below its top), and the text's width and height.
    fn layout(&self, size: f64, text: &str) -> (Vec<ab_glyph::Glyph>, f32, f32) {
        let font = self.font.as_scaled(self.scale(size));
        let mut pen = 0.0f32;
        let mut glyphs = Vec::with_capacity(text.len());
        for c in text.chars() {
            let id = font.glyph_id(c);
            glyphs.push(
                id.with_scale_and_position(font.scale(), ab_glyph::point(pen, font.ascent())),
            );
            pen += font.h_advance(id);
        }
        (glyphs, pen, font.ascent() - font.descent())
    }
}

impl<B: DrawingBackend> DrawingBackend for Text<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let (_, width, height) = self.layout(style.size(), text);
        Ok((width.ceil() as u32, height.ceil() as u32))
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let (glyphs, width, height) = self.layout(style.size(), text);
        // The anchor as plotters defines it: a corner, edge or the centre
        // of the text's box.
        let dx = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Right => -width,
            HPos::Center => -width / 2.0,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0.0,
            VPos::Center => -height / 2.0,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let (w, h) = self.inner.get_size();
        let mut pixels = Vec::new();
        for glyph in glyphs {
            let Some(outline) = self.font.outline_glyph(glyph) else {
                continue; // a space
            };
            let bounds = outline.px_bounds();
            outline.draw(|x, y, coverage| {
                let gx = bounds.min.x + x as f32 + dx;
                let gy = bounds.min.y + y as f32 + dy;
                pixels.push((gx.round() as i32, gy.round() as i32, coverage));
            });
        }
        for (x, y, coverage) in pixels {
            if coverage <= 0.0 {
                continue;
            }
            let (x, y) = transform.transform(x, y);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && y >= 0 && (x as u32) < w && (y as u32) < h {
                self.inner.draw_pixel(
                    (x, y),
                    BackendColor {
                        alpha: color.alpha * f64::from(coverage.min(1.0)),
                        rgb: color.rgb,
                    },
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ink of consecutive letters does not overlap: each glyph starts
    /// at or after the previous one's advance less a pixel of antialiasing.
    #[test]
    fn letters_follow_their_advances() {
        let text = Text::new((), super::super::FONT).unwrap();
        // Size 17.36 is a 14-pixel em.
        let (glyphs, width, _) = text.layout(17.36, "class");
        let inks: Vec<(f32, f32)> = glyphs
            .into_iter()
            .filter_map(|g| text.font.outline_glyph(g))
            .map(|o| (o.px_bounds().min.x, o.px_bounds().max.x))
            .collect();
        assert_eq!(inks.len(), 5);
        for pair in inks.windows(2) {
            assert!(pair[1].0 >= pair[0].1 - 1.0, "{inks:?}");
        }
        // DejaVu Sans: "class" is 2.48 em wide (c .55, l .28, a .61, s .52).
        assert!((width / 14.0 - 2.48).abs() < 0.05, "{width}");
    }
}
