using OSForAI.Runtime.Catalog;

namespace OSForAI.Tests.Catalog;

public sealed class VersionTests
{
    [Theory]
    [InlineData("1.2.3", true)]
    [InlineData("0.0.0", true)]
    [InlineData("10.20.30", true)]
    [InlineData("01.2.3", false)]
    [InlineData("1.2", false)]
    [InlineData("1.2.3.4", false)]
    [InlineData("1.2.-3", false)]
    [InlineData("v1.2.3", false)]
    [InlineData("1.2.3-beta", false)]
    [InlineData("", false)]
    public void SemVer_parses_only_plain_major_minor_patch(string text, bool ok) =>
        Assert.Equal(ok, SemVer.TryParse(text, out _));

    [Fact]
    public void SemVer_orders_numerically() =>
        Assert.True(SemVer.Parse("1.10.0").CompareTo(SemVer.Parse("1.9.9")) > 0);

    [Theory]
    [InlineData("", VersionSpec.SpecKind.Latest)]
    [InlineData("latest", VersionSpec.SpecKind.Latest)]
    [InlineData("1.2.3", VersionSpec.SpecKind.Exact)]
    [InlineData("1.2.*", VersionSpec.SpecKind.Minor)]
    [InlineData("1.*", VersionSpec.SpecKind.Major)]
    [InlineData("abcdef012345", VersionSpec.SpecKind.Build)]
    public void Specs_parse(string text, VersionSpec.SpecKind kind)
    {
        Assert.True(VersionSpec.TryParse(text, out var spec, out _));
        Assert.Equal(kind, spec.Kind);
    }

    [Theory]
    [InlineData("1.*.3")]
    [InlineData("*")]
    [InlineData("1.2.3.*")]
    [InlineData("abc")]
    [InlineData("../../etc")]
    public void Bad_specs_are_rejected_with_a_message(string text)
    {
        Assert.False(VersionSpec.TryParse(text, out _, out var error));
        Assert.Contains("not a valid version", error);
    }

    [Fact]
    public void Wildcards_match_the_right_versions()
    {
        VersionSpec.TryParse("1.2.*", out var minor, out _);
        VersionSpec.TryParse("1.*", out var major, out _);
        Assert.True(minor.Matches(new SemVer(1, 2, 9)));
        Assert.False(minor.Matches(new SemVer(1, 3, 0)));
        Assert.True(major.Matches(new SemVer(1, 3, 0)));
        Assert.False(major.Matches(new SemVer(2, 0, 0)));
    }
}
