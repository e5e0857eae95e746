using OSForAI.Components.Synthesis;
using OSForAI.Components.Validation;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// What transforms and overrides files do to a program: merge patches (RFC 7396) on inputs, removing a resource only when
/// nothing refers to it, redefining one in place, and the resource options they may set, written and validated.
/// </summary>
public sealed class ProgramEditingTests
{
    private static (PulumiProgram Program, Resource Bucket, Resource Block) Demo()
    {
        var program = new PulumiProgram("demo");
        var bucket = program.Add(new Resource("aws:s3/bucket:Bucket", "data", Expr.Object(
            ("forceDestroy", false),
            ("tags", Expr.Object(("team", "ml"), ("stack", PulumiRef.Stack))),
            ("corsRules", Expr.List(Expr.Object(("allowedMethods", Expr.List("GET")), ("allowedOrigins", Expr.List("*"))))))));
        var block = program.Add(new Resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "block", Expr.Object(
            ("bucket", bucket.Output("id")), ("blockPublicAcls", true)), new ResourceOptions { DependsOn = [bucket] }));
        program.AddOutput("bucket", bucket.Output("bucket"));
        return (program, bucket, block);
    }

    [Fact]
    public void A_merge_patch_merges_objects_deletes_with_null_and_replaces_lists_and_scalars()
    {
        var (program, bucket, _) = Demo();
        var missing = bucket.Patch(Expr.Object(
            ("forceDestroy", true),
            ("tags", Expr.Object(("owner", "platform"), ("stack", Expr.Null), ("nothere", Expr.Null))),
            ("corsRules", Expr.List(Expr.Object(("allowedMethods", Expr.List("PUT")), ("allowedOrigins", Expr.List("https://a.example")))))));

        Assert.Equal(["tags.nothere"], missing);
        var yaml = program.ToYaml();
        Assert.Contains("forceDestroy: true", yaml);
        // Merged: the existing tag stays, the new one is appended, the deleted one is gone.
        Assert.Contains("      tags:\n        team: ml\n        owner: platform\n", yaml);
        Assert.DoesNotContain("pulumi.stack", yaml);
        // Lists are replaced as a whole.
        Assert.DoesNotContain("GET", yaml);
        Assert.Contains("PUT", yaml);
        // A null on a top-level input deletes it; one that is not there is reported.
        Assert.Equal(["lifecycleRule"], bucket.Patch(Expr.Object(("forceDestroy", Expr.Null), ("lifecycleRule", Expr.Null))));
        Assert.Null(bucket.Get("forceDestroy"));
    }

    [Fact]
    public void A_merge_patch_on_a_value_that_is_not_an_object_replaces_it()
    {
        var target = new Ref(new Resource("aws:s3/bucket:Bucket", "b"), "tags");
        var missing = new List<string>();
        var merged = MergePatch.Apply(target, Expr.Object(("a", "1"), ("gone", Expr.Null)), "tags", missing);
        Assert.Equal("a", Assert.Single(Assert.IsType<Obj>(merged).Entries).Key);
        Assert.Equal(["tags.gone"], missing);
    }

    [Fact]
    public void A_resource_that_something_still_refers_to_cannot_be_removed()
    {
        var (program, bucket, block) = Demo();
        Assert.Equal(["block (properties.bucket)", "block (options.dependsOn)", "output bucket"], program.ReferencesTo(bucket));
        var e = Assert.Throws<InvalidOperationException>(() => program.Remove(bucket));
        Assert.Contains("block (properties.bucket)", e.Message);
        Assert.Contains(bucket, program.Resources);

        program.Remove(block);
        Assert.DoesNotContain(block, program.Resources);
        Assert.DoesNotContain("block", program.ToYaml());
    }

    [Fact]
    public void A_redefined_resource_keeps_its_name_and_every_reference_to_it()
    {
        var (program, _, block) = Demo();
        var provider = program.Add(new Resource("pulumi:providers:aws", "east", Expr.Object(("region", "us-east-1"))));
        var bucket = program.Resources.Single(r => r.Name == "data");
        bucket.Redefine("aws:s3/bucket:Bucket", [new("bucketPrefix", "team-")], new ResourceOptions { Provider = provider, RetainOnDelete = true });

        var yaml = program.ToYaml();
        Assert.Contains("  data:\n    type: aws:s3/bucket:Bucket\n    properties:\n      bucketPrefix: team-\n    options:\n      provider: ${east}\n      retainOnDelete: true\n", yaml);
        Assert.Contains("bucket: ${data.id}", yaml);
        Assert.Contains("- ${data}", yaml);
        Assert.Throws<ArgumentException>(() => bucket.Redefine("not-a-token", [], ResourceOptions.None));
        Assert.Same(bucket, Assert.IsType<Ref>(block.Get("bucket")).Resource);
    }

    [Fact]
    public void The_options_transforms_may_set_are_written_as_pulumi_yaml_spells_them_and_validated()
    {
        var (program, bucket, _) = Demo();
        bucket.Options = bucket.Options with
        {
            Protect = true,
            RetainOnDelete = true,
            ReplaceOnChanges = ["bucket"],
            Import = "existing-bucket",
            CustomTimeouts = new CustomTimeouts(Create: "30m", Delete: "1h"),
        };
        var yaml = program.ToYaml();
        Assert.Contains("    options:\n      protect: true\n      retainOnDelete: true\n      replaceOnChanges:\n      - bucket\n      import: existing-bucket\n      customTimeouts:\n        create: 30m\n        delete: 1h\n", yaml);
        Assert.Empty(ProgramValidator.Validate(program, PulumiSchema.Load(SharedData.StackSchemas)));

        bucket.Options = bucket.Options with { ReplaceOnChanges = ["bucketz"] };
        var violation = Assert.Single(ProgramValidator.Validate(program, PulumiSchema.Load(SharedData.StackSchemas)));
        Assert.Contains("options.replaceOnChanges", violation.ToString());
        Assert.Contains("did you mean 'bucket'", violation.ToString());

        // The parent is part of the name, so it cannot change.
        Assert.Throws<InvalidOperationException>(() => bucket.Options = bucket.Options with { Parent = new Component() });
    }

    [Fact]
    public void The_packages_of_a_program_are_those_of_its_resources_and_of_the_functions_it_invokes()
    {
        var (program, _, _) = Demo();
        program.AddVariable("zone", new Invoke("gcp:dns/getManagedZone:getManagedZone", Expr.Object(("name", "z"))));
        program.Add(new Resource("pulumi:providers:kubernetes", "k8s"));
        program.AddOutput("id", new Fn("fn::random:index/getX:getX", Expr.Object()));
        Assert.Equal(["aws", "gcp", "kubernetes", "random"], program.Packages());
    }

    [Fact]
    public void Nearest_names_put_names_containing_the_one_asked_first_then_the_closest_spellings()
    {
        Assert.Equal(["osforai-data", "osforai-data-public-access-block", "osforai-aws"],
            NameSuggestions.Nearest("data", ["osforai-aws", "osforai-data-public-access-block", "osforai-data", "osforai-vpc"]));
        Assert.Equal(["protect", "provider"], NameSuggestions.Nearest("protec", ["version", "protect", "provider"], 2));
        Assert.Empty(NameSuggestions.Nearest("x", []));
    }

    private sealed class Component() : ComponentResource("test:index:Component", "c");
}
