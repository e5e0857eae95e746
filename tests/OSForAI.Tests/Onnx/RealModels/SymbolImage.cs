namespace OSForAI.Tests.Onnx.RealModels;

/// <summary>
/// Hand-drawn math symbols for the detypify classifier (npm <c>detypify-service@0.3.0</c>), turned into the
/// model input exactly like the package's <c>drawStrokes</c> + <c>infer</c> do in the browser:
/// a 224x224 canvas filled black, strokes drawn white with <c>lineWidth = 8</c> (default butt caps, miter joins),
/// the strokes' bounding box centred and its longer side scaled to 224 - 20 = 204 px, every point rounded to
/// whole pixels, and the red channel divided by 255 (no mean/std normalisation). Tensor shape [1,1,224,224].
/// </summary>
public static class SymbolImage
{
    /// <summary>Canvas side length (the model's input height and width).</summary>
    public const int Size = 224;

    /// <summary>Stroke width used by detypify.</summary>
    public const double LineWidth = 8;

    /// <summary>Space left around the scaled strokes: the longer side of the bounding box becomes Size - Margin.</summary>
    public const int Margin = 20;

    /// <summary>
    /// Drawings whose expected label is the model's top-1 prediction with a clear margin (measured with
    /// ONNX Runtime 1.31 on CPU). Labels are the primary Typst names from <c>train/infer.json</c>.
    /// </summary>
    public static IReadOnlyList<(string ExpectedLabel, float[] Input)> Samples()
        => RobustDrawings().Select(d => (d.ExpectedLabel, Render(d.Strokes))).ToArray();

    /// <summary>The robust drawings as strokes (see <see cref="Samples"/>).</summary>
    public static IReadOnlyList<(string ExpectedLabel, IReadOnlyList<IReadOnlyList<(double X, double Y)>> Strokes)> RobustDrawings()
    {
        // Each of these wins top-1 by at least 3 logits, and still wins when the points are jittered
        // by ±1% and the drawing is randomly scaled/sheared by up to ±15%/±7.5%.
        string[] robust = ["integral", "infinity", "forall", "times", "exists", "checkmark", "approx", "eq.triple", "lt.eq", "plus.minus", "subset"];
        var all = AllDrawings();
        return robust.Select(label => all.First(d => d.ExpectedLabel == label)).ToArray();
    }

    /// <summary>Every drawing that was tried, including the ones the model gets wrong or is unsure about.</summary>
    public static IReadOnlyList<(string ExpectedLabel, IReadOnlyList<IReadOnlyList<(double X, double Y)>> Strokes)> AllDrawings() =>
    [
        ("integral", Integral()),
        ("infinity", Infinity()),
        ("arrow.r", ArrowRight()),
        ("sum", Sum()),
        ("forall", ForAll()),
        ("plus.o", CirclePlus()),
        ("times", Times()),
        ("exists", Exists()),
        ("gradient", Nabla()),
        ("Delta", Delta()),
        ("emptyset", EmptySet()),
        ("checkmark", CheckMark()),
        ("approx", Approx()),
        ("eq.triple", Equiv()),
        ("lt.eq", LessOrEqual()),
        ("union", Union()),
        ("subset", Subset()),
        ("pi", Pi()),
        ("alpha", Alpha()),
        ("plus.minus", PlusMinus()),
    ];

    /// <summary>∫: a tall S with a hook to the right at the top and to the left at the bottom.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> Integral()
    {
        var pts = new List<(double, double)>();
        pts.AddRange(Arc(38, 12, 10, 10, 0, -180, 12));     // top hook (y grows downward)
        pts.AddRange(Line(28, 14, 22, 150, 16));
        pts.AddRange(Arc(12, 150, 10, 10, 0, 180, 12));     // bottom hook
        return [pts];
    }

    /// <summary>∞: a lemniscate drawn in one stroke.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> Infinity()
    {
        var pts = new List<(double, double)>();
        const int n = 64;
        for (var i = 0; i <= n; i++)
        {
            var t = 2 * Math.PI * i / n;
            var d = 1 + (Math.Sin(t) * Math.Sin(t));
            pts.Add((100 + (80 * Math.Cos(t) / d), 60 + (80 * Math.Sin(t) * Math.Cos(t) / d)));
        }

        return [pts];
    }

    /// <summary>→: a shaft and a two-sided head drawn as a second stroke (top-1 by about 2 logits over arrow.r.long).</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> ArrowRight() =>
    [
        [(0, 50), (70, 50)],
        [(50, 30), (70, 50), (50, 70)],
    ];

    /// <summary>∑ drawn in one stroke.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> Sum() =>
    [
        [(80, 0), (0, 0), (45, 50), (0, 100), (80, 100)],
    ];

    /// <summary>∀: a V opening upward with a crossbar.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> ForAll() =>
    [
        [(0, 0), (40, 100), (80, 0)],
        [(18, 45), (62, 45)],
    ];

    /// <summary>⊕: a circle with a plus inside.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> CirclePlus() =>
    [
        Arc(50, 50, 50, 50, 0, 360, 48).ToList(),
        [(50, 0), (50, 100)],
        [(0, 50), (100, 50)],
    ];

    /// <summary>×: two short diagonals.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> Times() =>
    [
        [(0, 0), (60, 60)],
        [(60, 0), (0, 60)],
    ];

    /// <summary>∃: three bars joined by a vertical on the right.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> Exists() =>
    [
        [(0, 0), (60, 0), (60, 100), (0, 100)],
        [(5, 50), (60, 50)],
    ];

    /// <summary>∇: a downward triangle.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> Nabla() =>
    [
        [(0, 0), (100, 0), (50, 90), (0, 0)],
    ];

    /// <summary>Δ: an upward triangle.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> Delta() =>
    [
        [(50, 0), (100, 90), (0, 90), (50, 0)],
    ];

    /// <summary>∅: a circle with a slash.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> EmptySet() =>
    [
        Arc(50, 50, 40, 40, 0, 360, 48).ToList(),
        [(10, 100), (90, 0)],
    ];

    /// <summary>✓.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> CheckMark() =>
    [
        [(0, 55), (30, 90), (100, 0)],
    ];

    /// <summary>≈: two waves.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> Approx() =>
    [
        Wave(0, 20).ToList(),
        Wave(0, 50).ToList(),
    ];

    /// <summary>≡: three horizontal bars.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> Equiv() =>
    [
        [(0, 0), (100, 0)],
        [(0, 30), (100, 30)],
        [(0, 60), (100, 60)],
    ];

    /// <summary>≤: a left-pointing angle above a bar.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> LessOrEqual() =>
    [
        [(80, 0), (0, 35), (80, 70)],
        [(0, 95), (80, 95)],
    ];

    /// <summary>∪.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> Union()
    {
        var pts = new List<(double, double)> { (0, 0) };
        pts.AddRange(Arc(40, 60, 40, 40, 180, 0, 24));
        pts.Add((80, 0));
        return [pts];
    }

    /// <summary>⊂.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> Subset()
    {
        var pts = new List<(double, double)> { (100, 0) };
        pts.AddRange(Arc(40, 40, 40, 40, -90, -270, 24));
        pts.Add((100, 80));
        return [pts];
    }

    /// <summary>π: a bar with a small upturn, a bent left leg and a right leg ending in a hook.
    /// (Two straight legs under a straight bar are read as "product" instead.)</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> Pi() =>
    [
        [(0, 20), (10, 8), (100, 5)],
        [(35, 8), (30, 50), (15, 90)],
        [(70, 6), (70, 70), (80, 90), (92, 82)],
    ];

    /// <summary>α drawn as a fish-like loop.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> Alpha()
    {
        var pts = new List<(double, double)> { (100, 5) };
        pts.AddRange(Line(100, 5, 80, 50, 6));
        pts.AddRange(Arc(40, 50, 40, 35, 0, 360, 32).Skip(1).Take(31));
        pts.Add((80, 50));
        pts.Add((100, 90));
        return [pts];
    }

    /// <summary>±.</summary>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> PlusMinus() =>
    [
        [(50, 0), (50, 70)],
        [(10, 35), (90, 35)],
        [(10, 95), (90, 95)],
    ];

    /// <summary>
    /// Reproduces detypify's preprocessing for arbitrary strokes (canvas y axis points down) and returns
    /// the [1,1,224,224] input tensor data: 1 where the canvas is white (ink), 0 where it is black.
    /// </summary>
    public static float[] Render(IReadOnlyList<IReadOnlyList<(double X, double Y)>> strokes)
    {
        ArgumentNullException.ThrowIfNull(strokes);
        double minX = double.PositiveInfinity, maxX = double.NegativeInfinity;
        double minY = double.PositiveInfinity, maxY = double.NegativeInfinity;
        foreach (var stroke in strokes)
        {
            foreach (var (x, y) in stroke)
            {
                minX = Math.Min(minX, x);
                maxX = Math.Max(maxX, x);
                minY = Math.Min(minY, y);
                maxY = Math.Max(maxY, y);
            }
        }

        const double targetSize = Size - Margin;
        var width = Math.Max(maxX - minX, maxY - minY);
        var scale = width > 1e-6 ? targetSize / width : 1;
        var centerX = (minX + maxX) / 2;
        var centerY = (minY + maxY) / 2;

        var canvas = new StrokeRaster(Size, Size, background: 0);
        foreach (var stroke in strokes)
        {
            var pts = new List<(double X, double Y)>(stroke.Count);
            foreach (var (x, y) in stroke)
            {
                // JavaScript's Math.round rounds .5 up.
                pts.Add((Math.Floor(((x - centerX) * scale) + (Size / 2.0) + 0.5),
                         Math.Floor(((y - centerY) * scale) + (Size / 2.0) + 0.5)));
            }

            canvas.Stroke(pts, LineWidth, ink: 1, round: false);
        }

        var pixels = canvas.Pixels;
        var data = new float[Size * Size];
        for (var i = 0; i < data.Length; i++)
        {
            // getImageData gives 8-bit channels; the JS then divides the red channel by 255.
            data[i] = MathF.Round(pixels[i] * 255f) / 255f;
        }

        return data;
    }

    private static IEnumerable<(double X, double Y)> Arc(double cx, double cy, double rx, double ry, double fromDeg, double toDeg, int steps)
    {
        for (var i = 0; i <= steps; i++)
        {
            var a = (fromDeg + ((toDeg - fromDeg) * i / steps)) * Math.PI / 180;
            yield return (cx + (rx * Math.Cos(a)), cy + (ry * Math.Sin(a)));
        }
    }

    private static IEnumerable<(double X, double Y)> Line(double x0, double y0, double x1, double y1, int steps)
    {
        for (var i = 0; i <= steps; i++)
        {
            yield return (x0 + ((x1 - x0) * i / steps), y0 + ((y1 - y0) * i / steps));
        }
    }

    private static IEnumerable<(double X, double Y)> Wave(double x0, double y0)
    {
        for (var i = 0; i <= 32; i++)
        {
            var t = i / 32.0;
            yield return (x0 + (100 * t), y0 - (10 * Math.Sin(2 * Math.PI * t)));
        }
    }
}

/// <summary>
/// A tiny anti-aliased stroke rasteriser (4x4 supersampling), enough to imitate an HTML canvas
/// <c>stroke()</c> of a polyline: butt caps with miter joins (canvas defaults), or round caps and joins.
/// Each call to <see cref="Stroke"/> is composited source-over, like one canvas <c>stroke()</c>.
/// </summary>
internal sealed class StrokeRaster
{
    private const int Sub = 4;
    private const double MiterLimit = 10;

    private readonly int _width;
    private readonly int _height;
    private readonly bool[] _mask;
    private int _minSx, _minSy, _maxSx, _maxSy;

    public StrokeRaster(int width, int height, float background)
    {
        _width = width;
        _height = height;
        Pixels = new float[width * height];
        Array.Fill(Pixels, background);
        _mask = new bool[width * Sub * height * Sub];
    }

    /// <summary>Pixel values, row-major, 0 = black and 1 = white.</summary>
    public float[] Pixels { get; }

    public void Stroke(IReadOnlyList<(double X, double Y)> points, double lineWidth, float ink, bool round)
    {
        var hw = lineWidth / 2;
        var pts = new List<(double X, double Y)>(points.Count);
        foreach (var p in points)
        {
            if (pts.Count == 0 || Math.Abs(pts[^1].X - p.X) > 1e-9 || Math.Abs(pts[^1].Y - p.Y) > 1e-9)
            {
                pts.Add(p);
            }
        }

        _minSx = _minSy = int.MaxValue;
        _maxSx = _maxSy = int.MinValue;
        if (pts.Count == 1)
        {
            if (round)
            {
                FillDisk(pts[0], hw);
            }
        }

        for (var i = 0; i + 1 < pts.Count; i++)
        {
            var (a, b) = (pts[i], pts[i + 1]);
            var len = Math.Sqrt(((b.X - a.X) * (b.X - a.X)) + ((b.Y - a.Y) * (b.Y - a.Y)));
            var nx = -(b.Y - a.Y) / len * hw;
            var ny = (b.X - a.X) / len * hw;
            FillConvex([(a.X + nx, a.Y + ny), (b.X + nx, b.Y + ny), (b.X - nx, b.Y - ny), (a.X - nx, a.Y - ny)]);
            if (round)
            {
                FillDisk(a, hw);
                FillDisk(b, hw);
            }
            else if (i + 2 < pts.Count)
            {
                MiterJoin(a, b, pts[i + 2], hw);
            }
        }

        Composite(ink);
    }

    private void MiterJoin((double X, double Y) a, (double X, double Y) p, (double X, double Y) c, double hw)
    {
        var (d1x, d1y) = Unit(p.X - a.X, p.Y - a.Y);
        var (d2x, d2y) = Unit(c.X - p.X, c.Y - p.Y);
        double n1x = -d1y, n1y = d1x, n2x = -d2y, n2y = d2x;
        var turn = (d2x * n1x) + (d2y * n1y);
        if (Math.Abs(turn) < 1e-9)
        {
            return; // straight on, or an exact reversal (bevel of zero area)
        }

        var s = turn > 0 ? -1.0 : 1.0; // the outer side is away from the turn
        double o1x = s * n1x, o1y = s * n1y, o2x = s * n2x, o2y = s * n2y;
        var pa = (p.X + (hw * o1x), p.Y + (hw * o1y));
        var pb = (p.X + (hw * o2x), p.Y + (hw * o2y));
        var (mx, my) = Unit(o1x + o2x, o1y + o2y);
        var cosHalf = (mx * o1x) + (my * o1y);
        if (cosHalf > 1e-9 && 1 / cosHalf <= MiterLimit)
        {
            var tip = (p.X + (mx * hw / cosHalf), p.Y + (my * hw / cosHalf));
            FillConvex([p, pa, tip, pb]);
        }
        else
        {
            FillConvex([p, pa, pb]);
        }
    }

    private static (double X, double Y) Unit(double x, double y)
    {
        var l = Math.Sqrt((x * x) + (y * y));
        return l < 1e-12 ? (0, 0) : (x / l, y / l);
    }

    private void FillDisk((double X, double Y) c, double r)
    {
        var (x0, y0, x1, y1) = Bounds(c.X - r, c.Y - r, c.X + r, c.Y + r);
        for (var sy = y0; sy <= y1; sy++)
        {
            var py = (sy + 0.5) / Sub;
            for (var sx = x0; sx <= x1; sx++)
            {
                var px = (sx + 0.5) / Sub;
                if (((px - c.X) * (px - c.X)) + ((py - c.Y) * (py - c.Y)) <= r * r)
                {
                    _mask[(sy * _width * Sub) + sx] = true;
                }
            }
        }
    }

    private void FillConvex(ReadOnlySpan<(double X, double Y)> poly)
    {
        double minX = double.MaxValue, minY = double.MaxValue, maxX = double.MinValue, maxY = double.MinValue;
        foreach (var (x, y) in poly)
        {
            minX = Math.Min(minX, x);
            minY = Math.Min(minY, y);
            maxX = Math.Max(maxX, x);
            maxY = Math.Max(maxY, y);
        }

        var (x0, y0, x1, y1) = Bounds(minX, minY, maxX, maxY);
        for (var sy = y0; sy <= y1; sy++)
        {
            var py = (sy + 0.5) / Sub;
            for (var sx = x0; sx <= x1; sx++)
            {
                var px = (sx + 0.5) / Sub;
                bool anyPos = false, anyNeg = false;
                for (var i = 0; i < poly.Length; i++)
                {
                    var (ax, ay) = poly[i];
                    var (bx, by) = poly[(i + 1) % poly.Length];
                    var cross = ((bx - ax) * (py - ay)) - ((by - ay) * (px - ax));
                    if (cross > 1e-12)
                    {
                        anyPos = true;
                    }
                    else if (cross < -1e-12)
                    {
                        anyNeg = true;
                    }
                }

                if (!(anyPos && anyNeg))
                {
                    _mask[(sy * _width * Sub) + sx] = true;
                }
            }
        }
    }

    private (int X0, int Y0, int X1, int Y1) Bounds(double minX, double minY, double maxX, double maxY)
    {
        var x0 = Math.Max(0, (int)Math.Floor(minX * Sub));
        var y0 = Math.Max(0, (int)Math.Floor(minY * Sub));
        var x1 = Math.Min((_width * Sub) - 1, (int)Math.Ceiling(maxX * Sub));
        var y1 = Math.Min((_height * Sub) - 1, (int)Math.Ceiling(maxY * Sub));
        _minSx = Math.Min(_minSx, x0);
        _minSy = Math.Min(_minSy, y0);
        _maxSx = Math.Max(_maxSx, x1);
        _maxSy = Math.Max(_maxSy, y1);
        return (x0, y0, x1, y1);
    }

    private void Composite(float ink)
    {
        if (_maxSx < _minSx || _maxSy < _minSy)
        {
            return;
        }

        var stride = _width * Sub;
        for (var y = _minSy / Sub; y <= _maxSy / Sub; y++)
        {
            for (var x = _minSx / Sub; x <= _maxSx / Sub; x++)
            {
                var count = 0;
                for (var j = 0; j < Sub; j++)
                {
                    var row = (((y * Sub) + j) * stride) + (x * Sub);
                    for (var i = 0; i < Sub; i++)
                    {
                        if (_mask[row + i])
                        {
                            count++;
                            _mask[row + i] = false;
                        }
                    }
                }

                if (count > 0)
                {
                    var alpha = count / (float)(Sub * Sub);
                    var idx = (y * _width) + x;
                    Pixels[idx] += (ink - Pixels[idx]) * alpha;
                }
            }
        }
    }
}
