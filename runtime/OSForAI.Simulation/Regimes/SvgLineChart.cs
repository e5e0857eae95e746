using System.Globalization;
using System.Net;
using System.Text;

namespace OSForAI.Simulation.Regimes;

/// <summary>One line of a chart: label and y values at evenly spaced x positions.</summary>
public sealed record ChartSeries(string Label, IReadOnlyList<double> Values);

/// <summary>A small hand-written SVG line chart: axes with ticks, one polyline per series, a legend.</summary>
public static class SvgLineChart
{
    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

    /// <param name="xMax">Value of the last x position (the first is 0).</param>
    public static string Render(string title, string xLabel, string yLabel, double xMax, IReadOnlyList<ChartSeries> series)
    {
        const double w = 760, h = 420, left = 60, right = 170, top = 40, bottom = 50;
        double pw = w - left - right, ph = h - top - bottom;
        var yMax = Math.Max(1e-9, series.SelectMany(s => s.Values).DefaultIfEmpty(1).Max()) * 1.05;
        var sb = new StringBuilder();
        sb.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n"));
        sb.Append(Inv($"<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n"));
        sb.Append(Inv($"<text x=\"{w / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{Esc(title)}</text>\n"));
        sb.Append(Inv($"<line x1=\"{left}\" y1=\"{top + ph}\" x2=\"{left + pw}\" y2=\"{top + ph}\" stroke=\"black\"/>\n"));
        sb.Append(Inv($"<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{top + ph}\" stroke=\"black\"/>\n"));
        for (var i = 0; i <= 5; i++)
        {
            double fx = left + pw * i / 5, fy = top + ph - ph * i / 5;
            sb.Append(Inv($"<text x=\"{fx}\" y=\"{top + ph + 16}\" text-anchor=\"middle\">{Fmt(xMax * i / 5)}</text>\n"));
            sb.Append(Inv($"<text x=\"{left - 6}\" y=\"{fy + 4}\" text-anchor=\"end\">{Fmt(yMax * i / 5)}</text>\n"));
            sb.Append(Inv($"<line x1=\"{left}\" y1=\"{fy}\" x2=\"{left + pw}\" y2=\"{fy}\" stroke=\"#ddd\"/>\n"));
        }
        sb.Append(Inv($"<text x=\"{left + pw / 2}\" y=\"{h - 12}\" text-anchor=\"middle\">{Esc(xLabel)}</text>\n"));
        sb.Append(Inv($"<text x=\"16\" y=\"{top + ph / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {top + ph / 2})\">{Esc(yLabel)}</text>\n"));
        for (var s = 0; s < series.Count; s++)
        {
            var v = series[s].Values;
            var color = Colors[s % Colors.Length];
            var pts = new StringBuilder();
            for (var i = 0; i < v.Count; i++)
            {
                var x = left + (v.Count == 1 ? 0 : pw * i / (v.Count - 1));
                var y = top + ph - ph * Math.Max(0, v[i]) / yMax;
                pts.Append(Inv($"{x:0.#},{y:0.#} "));
            }
            sb.Append(Inv($"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{pts.ToString().TrimEnd()}\"/>\n"));
            var ly = top + 14 + s * 18;
            sb.Append(Inv($"<line x1=\"{left + pw + 12}\" y1=\"{ly}\" x2=\"{left + pw + 32}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"3\"/>\n"));
            sb.Append(Inv($"<text x=\"{left + pw + 38}\" y=\"{ly + 4}\">{Esc(series[s].Label)}</text>\n"));
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static string Fmt(double v) => v.ToString(Math.Abs(v) >= 100 ? "0" : "0.#", CultureInfo.InvariantCulture);
    private static string Esc(string s) => WebUtility.HtmlEncode(s);
    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
