namespace OSForAI.Tests.Support;

/// <summary>
/// Finds a folder of the shared test data (shared/ sits beside the repository for developers and CI, and holds data
/// too big or too foreign for the repository: traces, provider schemas): the folder named by an environment
/// variable if set, else <c>shared/&lt;name&gt;</c> found by walking up from the test's folder.
/// </summary>
internal static class SharedData
{
    /// <summary>
    /// The folder, or null. <paramref name="probe"/> (a file or folder inside it) must exist too, when given: it keeps an
    /// empty or partial checkout from being taken for the data.
    /// </summary>
    public static string? Find(string name, string environmentVariable, string? probe = null)
    {
        bool Holds(string folder) => Directory.Exists(folder) &&
            (probe is null || Directory.Exists(Path.Combine(folder, probe)) || File.Exists(Path.Combine(folder, probe)));

        var env = Environment.GetEnvironmentVariable(environmentVariable);
        if (!string.IsNullOrEmpty(env) && Holds(env)) return Path.GetFullPath(env);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", name);
            if (Holds(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>shared/pulumi-schema (the provider mini-schemas), or $OSAI_PULUMI_SCHEMA.</summary>
    public static string? PulumiSchema => Find("pulumi-schema", "OSAI_PULUMI_SCHEMA", "README.md");

    /// <summary>
    /// The schemas the stacks' programs are checked against: shared/pulumi-schema when present, else the trimmed copy
    /// committed in Infrastructure/Schemas (the repository's own CI). OSAI_PULUMI_SCHEMA=fixture picks the copy even
    /// where shared/ exists, to run the tests as that CI does.
    /// </summary>
    public static string StackSchemas =>
        Environment.GetEnvironmentVariable("OSAI_PULUMI_SCHEMA") == "fixture" ? SchemaFixture : PulumiSchema ?? SchemaFixture;

    /// <summary>Infrastructure/Schemas: what <c>osforai-stacks trim-schemas</c> cut from shared/pulumi-schema.</summary>
    public static string SchemaFixture => Path.Combine(OSForAI.Testing.Repository.Root, "tests", "OSForAI.Tests", "Infrastructure", "Schemas");

    public const string PulumiSchemaSkipReason = "../shared/pulumi-schema not found; set OSAI_PULUMI_SCHEMA or run from the development workspace";
}
