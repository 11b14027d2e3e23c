package report

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/png"
)

// Chart geometry in pixels.
const (
	chartWidth  = 720
	chartHeight = 240
	chartMargin = 20
)

var (
	colorBackground = color.RGBA{0xff, 0xff, 0xff, 0xff}
	colorAxis       = color.RGBA{0x44, 0x44, 0x44, 0xff}
	colorGrid       = color.RGBA{0xe0, 0xe0, 0xe0, 0xff}
	colorSucceeded  = color.RGBA{0x2e, 0x7d, 0x32, 0xff} // green
	colorFailed     = color.RGBA{0xc6, 0x28, 0x28, 0xff} // red
)

// Chart draws a stacked bar per day, succeeded sign-ins in green below
// failed ones in red, scaled to the busiest day, and returns it as PNG. The
// image has no text: the HTML around it carries the labels and numbers.
func Chart(days []DayCount) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, chartWidth, chartHeight))
	draw.Draw(img, img.Bounds(), &image.Uniform{colorBackground}, image.Point{}, draw.Src)

	plot := image.Rect(chartMargin, chartMargin, chartWidth-chartMargin, chartHeight-chartMargin)
	for i := 1; i <= 4; i++ {
		y := plot.Max.Y - plot.Dy()*i/4
		fill(img, image.Rect(plot.Min.X, y, plot.Max.X, y+1), colorGrid)
	}

	peak := 0
	for _, d := range days {
		peak = max(peak, d.Succeeded+d.Failed)
	}
	if len(days) > 0 && peak > 0 {
		slot := plot.Dx() / len(days)
		gap := max(slot/5, 1)
		for i, d := range days {
			x0 := plot.Min.X + i*slot + gap/2
			x1 := x0 + max(slot-gap, 1)
			okHeight := plot.Dy() * d.Succeeded / peak
			failHeight := plot.Dy() * d.Failed / peak
			fill(img, image.Rect(x0, plot.Max.Y-okHeight, x1, plot.Max.Y), colorSucceeded)
			fill(img, image.Rect(x0, plot.Max.Y-okHeight-failHeight, x1, plot.Max.Y-okHeight), colorFailed)
		}
	}

	// Axes last, so that bars never cover them.
	fill(img, image.Rect(plot.Min.X, plot.Min.Y, plot.Min.X+1, plot.Max.Y+1), colorAxis)
	fill(img, image.Rect(plot.Min.X, plot.Max.Y, plot.Max.X, plot.Max.Y+1), colorAxis)

	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, &image.Uniform{c}, image.Point{}, draw.Src)
}
