namespace OSForAI.Tests.Onnx.RealModels;

/// <summary>
/// Renders a line of text with a small hand-made stroke font and turns it into the input of PaddleOCR's
/// text-orientation classifier (<c>ch_ppocr_mobile_v2.0_cls_infer.onnx</c>, input <c>x</c> [1,3,48,192]),
/// following PaddleOCR's cls preprocessing: the image is resized to height 48 keeping its aspect ratio
/// (width capped at 192), every channel is normalised as (pixel / 255 - 0.5) / 0.5, and the rest of the
/// width is padded with 0. The text is dark on a light background; all three channels are equal.
/// </summary>
public static class TextLineImage
{
    /// <summary>Input height of the classifier.</summary>
    public const int Height = 48;

    /// <summary>Input width of the classifier (images are padded on the right up to this width).</summary>
    public const int Width = 192;

    /// <summary>A text that the classifier reads as upright with a wide margin, and as 180° once rotated.</summary>
    public const string DefaultText = "hello world";

    private const float Paper = 245f / 255f;
    private const float InkLevel = 20f / 255f;

    // Font metrics in font units (y grows upward, baseline at 0).
    private const double Ascender = 8;
    private const double Descender = -3;
    private const double LetterGap = 1.2;
    private const double SpaceAdvance = 3;

    /// <summary>The characters the built-in font can draw (plus space).</summary>
    public static IReadOnlyCollection<char> SupportedCharacters => Glyphs.Keys;

    /// <summary>
    /// Returns the normalised NCHW data for shape [1,3,<see cref="Height"/>,<see cref="Width"/>].
    /// With <paramref name="rotate180"/> the text image is turned upside down before it is padded,
    /// as a crop of upside-down text would be.
    /// </summary>
    public static float[] Render(string text, bool rotate180 = false)
    {
        var (pixels, w) = RenderGray(text);
        if (rotate180)
        {
            Array.Reverse(pixels); // a 180° turn of a row-major image is the reversed pixel order
        }

        var data = new float[3 * Height * Width];
        for (var c = 0; c < 3; c++)
        {
            for (var y = 0; y < Height; y++)
            {
                for (var x = 0; x < w; x++)
                {
                    var byteValue = MathF.Round(pixels[(y * w) + x] * 255f);
                    data[(((c * Height) + y) * Width) + x] = ((byteValue / 255f) - 0.5f) / 0.5f;
                }
            }
        }

        return data;
    }

    /// <summary>
    /// Renders the text as grey pixels (0 = black, 1 = white) at height 48; the width is the text's natural
    /// width at that height, or 192 with the text squeezed horizontally when it would be wider.
    /// </summary>
    public static (float[] Pixels, int Width) RenderGray(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);

        // Layout in font units.
        var strokes = new List<List<(double X, double Y)>>();
        var penX = 0.0;
        foreach (var ch in text)
        {
            if (ch == ' ')
            {
                penX += SpaceAdvance;
                continue;
            }

            if (!Glyphs.TryGetValue(ch, out var glyph))
            {
                throw new ArgumentException($"The built-in stroke font has no glyph for '{ch}'.", nameof(text));
            }

            foreach (var stroke in glyph.Strokes)
            {
                strokes.Add(stroke.Select(p => (p.X + penX, p.Y)).ToList());
            }

            penX += glyph.Advance + LetterGap;
        }

        var textWidth = penX - LetterGap;

        // Font units -> pixels: the ascender-to-descender span takes 80% of the height.
        var unit = Height * 0.8 / (Ascender - Descender);
        var strokeWidth = 0.95 * unit;
        var marginX = 0.6 * unit;
        var naturalWidth = (textWidth * unit) + strokeWidth + (2 * marginX);
        var w = (int)Math.Min(Width, Math.Ceiling(naturalWidth));
        var squeeze = w / naturalWidth;
        var baseline = (Height / 2.0) + ((Ascender + Descender) / 2 * unit);

        var canvas = new StrokeRaster(w, Height, Paper);
        foreach (var stroke in strokes)
        {
            var pts = stroke
                .Select(p => ((marginX + (strokeWidth / 2) + (p.X * unit)) * squeeze, baseline - (p.Y * unit)))
                .ToList();
            canvas.Stroke(pts, strokeWidth, InkLevel, round: true);
        }

        return (canvas.Pixels, w);
    }

    private sealed record Glyph(double Advance, IReadOnlyList<IReadOnlyList<(double X, double Y)>> Strokes);

    private static readonly Dictionary<char, Glyph> Glyphs = BuildFont();

    private static Dictionary<char, Glyph> BuildFont()
    {
        // Lower-case letters: x-height 5, ascender 8, descender -3; bowls are ellipses 4 wide.
        var bowl = Ellipse(2, 2.5, 2, 2.5, 0, 360);
        var arch = Concat(Ellipse(2, 3, 2, 2, 180, 0), [(4, 0)]);
        var f = new Dictionary<char, Glyph>
        {
            ['a'] = new(4, [bowl, L((4, 5), (4, 0))]),
            ['b'] = new(4, [L((0, 8), (0, 0)), bowl]),
            ['c'] = new(4, [Ellipse(2, 2.5, 2, 2.5, 40, 320)]),
            ['d'] = new(4, [L((4, 8), (4, 0)), bowl]),
            ['e'] = new(4, [Concat(L((0, 2.5), (4, 2.5)), Ellipse(2, 2.5, 2, 2.5, 0, 320))]),
            ['f'] = new(3, [Concat(Ellipse(2.5, 6.5, 1.5, 1.5, 20, 180), [(1, 0)]), L((0, 5), (3, 5))]),
            ['g'] = new(4, [bowl, Concat(L((4, 5), (4, -1.5)), Ellipse(2, -1.5, 2, 1.5, 0, -160))]),
            ['h'] = new(4, [L((0, 8), (0, 0)), Concat(L((0, 3)), arch)]),
            ['i'] = new(0, [L((0, 5), (0, 0)), L((0, 7), (0, 7.1))]),
            ['j'] = new(1.5, [Concat(L((1.5, 5), (1.5, -2)), Ellipse(0.5, -2, 1, 1, 0, -180)), L((1.5, 7), (1.5, 7.1))]),
            ['k'] = new(3.8, [L((0, 8), (0, 0)), L((3.6, 5), (0, 1.8)), L((1.2, 2.8), (3.8, 0))]),
            ['l'] = new(0, [L((0, 8), (0, 0))]),
            ['m'] = new(6, [L((0, 5), (0, 0)), Concat(L((0, 3.5)), Ellipse(1.5, 3.5, 1.5, 1.5, 180, 0), [(3, 0)]), Concat(L((3, 3.5)), Ellipse(4.5, 3.5, 1.5, 1.5, 180, 0), [(6, 0)])]),
            ['n'] = new(4, [L((0, 5), (0, 0)), Concat(L((0, 3)), arch)]),
            ['o'] = new(4, [bowl]),
            ['p'] = new(4, [L((0, 5), (0, -3)), bowl]),
            ['q'] = new(4, [L((4, 5), (4, -3)), bowl]),
            ['r'] = new(3, [L((0, 5), (0, 0)), Concat(L((0, 3)), Ellipse(2, 3, 2, 2, 180, 60))]),
            ['s'] = new(3.6, [Concat(Ellipse(1.8, 3.75, 1.8, 1.25, 30, 270), Ellipse(1.8, 1.25, 1.8, 1.25, 90, -150))]),
            ['t'] = new(3, [Concat(L((1, 7), (1, 1)), Ellipse(2, 1, 1, 1, 180, 300)), L((0, 5), (3, 5))]),
            ['u'] = new(4, [Concat(L((0, 5), (0, 2)), Ellipse(2, 2, 2, 2, 180, 360), [(4, 5)]), L((4, 5), (4, 0))]),
            ['v'] = new(4, [L((0, 5), (2, 0), (4, 5))]),
            ['w'] = new(6, [L((0, 5), (1.5, 0), (3, 4), (4.5, 0), (6, 5))]),
            ['x'] = new(4, [L((0, 5), (4, 0)), L((0, 0), (4, 5))]),
            ['y'] = new(4, [L((0, 5), (2.1, 0.3)), L((4, 5), (1.2, -3))]),
            ['z'] = new(4, [L((0, 5), (4, 5), (0, 0), (4, 0))]),

            // A few capitals (cap height 8).
            ['H'] = new(5, [L((0, 8), (0, 0)), L((5, 8), (5, 0)), L((0, 4), (5, 4))]),
            ['T'] = new(5, [L((0, 8), (5, 8)), L((2.5, 8), (2.5, 0))]),
            ['L'] = new(4, [L((0, 8), (0, 0), (4, 0))]),
            ['E'] = new(4, [L((4, 8), (0, 8), (0, 0), (4, 0)), L((0, 4), (3, 4))]),
            ['F'] = new(4, [L((4, 8), (0, 8), (0, 0)), L((0, 4), (3, 4))]),
            ['J'] = new(4, [Concat(L((4, 8), (4, 2)), Ellipse(2, 2, 2, 2, 0, -180))]),
            ['P'] = new(4, [L((0, 0), (0, 8)), Concat(L((0, 8), (2, 8)), Ellipse(2, 6, 2, 2, 90, -90), [(0, 4)])]),
            ['S'] = new(4, [Concat(Ellipse(2, 6, 2, 2, 20, 270), Ellipse(2, 2, 2, 2, 90, -160))]),
        };
        return f;
    }

    private static List<(double X, double Y)> L(params (double X, double Y)[] points) => [.. points];

    private static List<(double X, double Y)> Concat(params IEnumerable<(double X, double Y)>[] parts)
        => parts.SelectMany(p => p).ToList();

    private static List<(double X, double Y)> Ellipse(double cx, double cy, double rx, double ry, double fromDeg, double toDeg)
    {
        var steps = Math.Max(6, (int)Math.Ceiling(Math.Abs(toDeg - fromDeg) / 12));
        var pts = new List<(double X, double Y)>(steps + 1);
        for (var i = 0; i <= steps; i++)
        {
            var a = (fromDeg + ((toDeg - fromDeg) * i / steps)) * Math.PI / 180;
            pts.Add((cx + (rx * Math.Cos(a)), cy + (ry * Math.Sin(a))));
        }

        return pts;
    }
}
