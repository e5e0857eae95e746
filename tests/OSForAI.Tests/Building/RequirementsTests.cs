using OSForAI.Runtime.Building;
using OSForAI.Runtime.Catalog;

namespace OSForAI.Tests.Building;

/// <summary>requirements.txt may only name packages (and pin their hashes): where they come from is the server's setting.</summary>
public sealed class RequirementsTests
{
    [Theory]
    [InlineData("requests\nnumpy>=1.24,<2\npandas[excel]==2.1.4 ; python_version >= \"3.9\"\n# a comment\n\nsix==1.16.0 --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254", 4)]
    [InlineData("tinya==1.0 \\\n    --hash=sha256:ABCDEF0123  # pinned\n", 1)]
    [InlineData("", 0)]
    public void Requirements_may_name_packages_and_pin_hashes(string text, int count)
    {
        var reqs = PythonEnvironments.ParseRequirements(text);
        Assert.Equal(count, reqs.Count);
        Assert.All(reqs, r => Assert.DoesNotContain("#", r.Replace("--hash=", "")));
    }

    [Theory]
    [InlineData("-e ./mypkg", "line 1: `-e ./mypkg`: options are not allowed here")]
    [InlineData("requests\n--index-url http://evil.example/simple", "line 2: `--index-url http://evil.example/simple`: options are not allowed")]
    [InlineData("mypkg @ https://example.com/mypkg.whl", "only package names are allowed")]
    [InlineData("./local/pkg", "only package names are allowed")]
    [InlineData("/abs/path.whl", "only package names are allowed")]
    [InlineData("git+https://github.com/x/y", "only package names are allowed")]
    [InlineData("requests --no-deps", "the only option after a requirement is --hash=sha256:HEX")]
    [InlineData("requests===", "not a package requirement")]
    public void Requirements_that_are_not_packages_from_the_index_are_refused(string text, string expected) =>
        Assert.Contains(expected, Assert.Throws<CatalogException>(() => PythonEnvironments.ParseRequirements(text)).Message);
}
