using System.Globalization;
using System.Net;
using System.Text;

namespace OSForAI.Simulation.Report;

/// <summary>One labelled point of a scatter plot.</summary>
public sealed record ScatterPoint(string Label, double X, double Y);

/// <summary>Writes a small self-contained SVG scatter plot by hand: linear axes from 0, ticks, one labelled dot per point.</summary>
public static class SvgScatterPlot
{
    private const int Width = 720, Height = 460, Left = 80, Right = 30, Top = 40, Bottom = 60;

    public static string Render(string title, string xLabel, string yLabel, IReadOnlyList<ScatterPoint> points)
    {
        var maxX = NiceCeiling(points.Count == 0 ? 1 : points.Max(p => p.X));
        var maxY = NiceCeiling(points.Count == 0 ? 1 : points.Max(p => p.Y));
        double PlotX(double x) => Left + x / maxX * (Width - Left - Right);
        double PlotY(double y) => Height - Bottom - y / maxY * (Height - Top - Bottom);

        var svg = new StringBuilder();
        svg.Append(Invariant($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">\n"));
        svg.Append(Invariant($"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n"));
        svg.Append(Invariant($"<text x=\"{Width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n"));
        for (var i = 0; i <= 5; i++)
        {
            var xv = maxX * i / 5;
            var yv = maxY * i / 5;
            svg.Append(Invariant($"<line x1=\"{PlotX(xv):0.#}\" y1=\"{Top}\" x2=\"{PlotX(xv):0.#}\" y2=\"{Height - Bottom}\" stroke=\"#e5e5e5\"/>\n"));
            svg.Append(Invariant($"<line x1=\"{Left}\" y1=\"{PlotY(yv):0.#}\" x2=\"{Width - Right}\" y2=\"{PlotY(yv):0.#}\" stroke=\"#e5e5e5\"/>\n"));
            svg.Append(Invariant($"<text x=\"{PlotX(xv):0.#}\" y=\"{Height - Bottom + 16}\" text-anchor=\"middle\">{Tick(xv)}</text>\n"));
            svg.Append(Invariant($"<text x=\"{Left - 6}\" y=\"{PlotY(yv) + 4:0.#}\" text-anchor=\"end\">{Tick(yv)}</text>\n"));
        }
        svg.Append(Invariant($"<line x1=\"{Left}\" y1=\"{Height - Bottom}\" x2=\"{Width - Right}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>\n"));
        svg.Append(Invariant($"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>\n"));
        svg.Append(Invariant($"<text x=\"{(Left + Width - Right) / 2}\" y=\"{Height - 18}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n"));
        svg.Append(Invariant($"<text transform=\"translate(20 {(Top + Height - Bottom) / 2}) rotate(-90)\" text-anchor=\"middle\">{Escape(yLabel)}</text>\n"));
        var placed = new List<(double X, double Y, double W)>();
        foreach (var p in points)
        {
            svg.Append(Invariant($"<circle cx=\"{PlotX(p.X):0.#}\" cy=\"{PlotY(p.Y):0.#}\" r=\"5\" fill=\"#1f77b4\"/>\n"));
            var (lx, ly, anchor) = PlaceLabel(PlotX(p.X), PlotY(p.Y), p.Label.Length * 7.0, placed);
            svg.Append(Invariant($"<text x=\"{lx:0.#}\" y=\"{ly:0.#}\" text-anchor=\"{anchor}\">{Escape(p.Label)}</text>\n"));
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>Puts a label beside its dot where it does not overlap an earlier label (above right, below right,
    /// above left, below left; the first that fits, else above right).</summary>
    private static (double X, double Y, string Anchor) PlaceLabel(double x, double y, double width, List<(double X, double Y, double W)> placed)
    {
        (double Dx, double Dy, bool Left)[] options = [(8, -6, false), (8, 16, false), (-8, -6, true), (-8, 16, true)];
        foreach (var (dx, dy, left) in options)
        {
            var boxX = left ? x + dx - width : x + dx;
            var boxY = y + dy;
            if (placed.Any(b => boxX < b.X + b.W && b.X < boxX + width && Math.Abs(boxY - b.Y) < 13)) continue;
            placed.Add((boxX, boxY, width));
            return (x + dx, boxY, left ? "end" : "start");
        }
        placed.Add((x + 8, y - 6, width));
        return (x + 8, y - 6, "start");
    }

    /// <summary>The smallest 1, 2 or 5 × 10^n at or above the value (1 for non-positive values).</summary>
    public static double NiceCeiling(double value)
    {
        if (!(value > 0)) return 1;
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (var step in new[] { 1.0, 2, 5, 10 })
            if (step * magnitude >= value) return step * magnitude;
        return 10 * magnitude;
    }

    private static string Tick(double v) =>
        v >= 1e6 ? Invariant($"{v / 1e6:0.#}M") : v >= 1e3 ? Invariant($"{v / 1e3:0.#}k") : Invariant($"{v:0.##}");

    private static string Escape(string text) => WebUtility.HtmlEncode(text);

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
