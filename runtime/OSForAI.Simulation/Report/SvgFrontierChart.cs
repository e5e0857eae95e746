using System.Globalization;
using System.Net;
using System.Text;

namespace OSForAI.Simulation.Report;

/// <summary>One swept policy: its points (x, y, label) in sweep order, joined by a line.</summary>
public sealed record FrontierSeries(string Label, IReadOnlyList<ScatterPoint> Points);

/// <summary>A small hand-written SVG of frontiers: linear axes from 0, one polyline with labelled dots per series, a legend.</summary>
public static class SvgFrontierChart
{
    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"];
    private const int Width = 760, Height = 460, Left = 80, Right = 170, Top = 40, Bottom = 60;

    public static string Render(string title, string xLabel, string yLabel, IReadOnlyList<FrontierSeries> series)
    {
        var all = series.SelectMany(s => s.Points).ToList();
        var maxX = SvgScatterPlot.NiceCeiling(all.Count == 0 ? 1 : all.Max(p => p.X));
        var maxY = SvgScatterPlot.NiceCeiling(all.Count == 0 ? 1 : all.Max(p => p.Y));
        double PlotX(double x) => Left + Math.Max(0, x) / maxX * (Width - Left - Right);
        double PlotY(double y) => Height - Bottom - Math.Max(0, y) / maxY * (Height - Top - Bottom);

        var svg = new StringBuilder();
        svg.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">\n"));
        svg.Append(Inv($"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n"));
        svg.Append(Inv($"<text x=\"{(Left + Width - Right) / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{Esc(title)}</text>\n"));
        for (var i = 0; i <= 5; i++)
        {
            var xv = maxX * i / 5;
            var yv = maxY * i / 5;
            svg.Append(Inv($"<line x1=\"{PlotX(xv):0.#}\" y1=\"{Top}\" x2=\"{PlotX(xv):0.#}\" y2=\"{Height - Bottom}\" stroke=\"#e5e5e5\"/>\n"));
            svg.Append(Inv($"<line x1=\"{Left}\" y1=\"{PlotY(yv):0.#}\" x2=\"{Width - Right}\" y2=\"{PlotY(yv):0.#}\" stroke=\"#e5e5e5\"/>\n"));
            svg.Append(Inv($"<text x=\"{PlotX(xv):0.#}\" y=\"{Height - Bottom + 16}\" text-anchor=\"middle\">{Tick(xv)}</text>\n"));
            svg.Append(Inv($"<text x=\"{Left - 6}\" y=\"{PlotY(yv) + 4:0.#}\" text-anchor=\"end\">{Tick(yv)}</text>\n"));
        }
        svg.Append(Inv($"<line x1=\"{Left}\" y1=\"{Height - Bottom}\" x2=\"{Width - Right}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>\n"));
        svg.Append(Inv($"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>\n"));
        svg.Append(Inv($"<text x=\"{(Left + Width - Right) / 2}\" y=\"{Height - 18}\" text-anchor=\"middle\">{Esc(xLabel)}</text>\n"));
        svg.Append(Inv($"<text transform=\"translate(20 {(Top + Height - Bottom) / 2}) rotate(-90)\" text-anchor=\"middle\">{Esc(yLabel)}</text>\n"));
        for (var s = 0; s < series.Count; s++)
        {
            var color = Colors[s % Colors.Length];
            var points = series[s].Points;
            if (points.Count > 1)
                svg.Append(Inv($"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{string.Join(' ', points.Select(p => Inv($"{PlotX(p.X):0.#},{PlotY(p.Y):0.#}")))}\"/>\n"));
            foreach (var p in points)
            {
                svg.Append(Inv($"<circle cx=\"{PlotX(p.X):0.#}\" cy=\"{PlotY(p.Y):0.#}\" r=\"4\" fill=\"{color}\"/>\n"));
                svg.Append(Inv($"<text x=\"{PlotX(p.X) + 6:0.#}\" y=\"{PlotY(p.Y) - 6 + (s * 12):0.#}\" fill=\"{color}\" font-size=\"10\">{Esc(p.Label)}</text>\n"));
            }
            var ly = Top + 14 + s * 18;
            svg.Append(Inv($"<line x1=\"{Width - Right + 12}\" y1=\"{ly}\" x2=\"{Width - Right + 32}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"3\"/>\n"));
            svg.Append(Inv($"<text x=\"{Width - Right + 38}\" y=\"{ly + 4}\">{Esc(series[s].Label)}</text>\n"));
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static string Tick(double v) =>
        v >= 1e6 ? Inv($"{v / 1e6:0.#}M") : v >= 1e3 ? Inv($"{v / 1e3:0.#}k") : Inv($"{v:0.##}");

    private static string Esc(string text) => WebUtility.HtmlEncode(text);
    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
