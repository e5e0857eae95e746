using System.Globalization;
using System.Text.RegularExpressions;

namespace OSForAI.DevCluster;

/// <summary>Kubernetes resource quantities ("500m", "2", "1Gi", "1e3") as decimals.</summary>
internal static partial class Quantity
{
    [GeneratedRegex(@"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+)?$")]
    private static partial Regex Pattern();

    public static bool TryParse(string? text, out decimal value)
    {
        value = 0;
        if (text is null) return false;
        var m = Pattern().Match(text);
        if (!m.Success || !decimal.TryParse(m.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
            return false;
        var suffix = m.Groups[2].Value;
        decimal factor = suffix switch
        {
            "" => 1m,
            "m" => 0.001m,
            "k" => 1e3m, "M" => 1e6m, "G" => 1e9m, "T" => 1e12m, "P" => 1e15m, "E" => 1e18m,
            "Ki" => 1024m, "Mi" => 1024m * 1024, "Gi" => 1024m * 1024 * 1024, "Ti" => 1024m * 1024 * 1024 * 1024,
            "Pi" => 1024m * 1024 * 1024 * 1024 * 1024, "Ei" => 1024m * 1024 * 1024 * 1024 * 1024 * 1024,
            _ => Exponent(suffix),
        };
        try
        {
            value = number * factor;
        }
        catch (OverflowException)
        {
            return false;
        }
        return value >= 0;
    }

    private static decimal Exponent(string suffix)
    {
        var e = int.Parse(suffix[1..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        if (e is > 18 or < -18) return 0;
        decimal f = 1;
        for (var i = 0; i < Math.Abs(e); i++) f = e > 0 ? f * 10 : f / 10;
        return f;
    }
}
