using OSForAI.Components.Synthesis;
using YamlDotNet.RepresentationModel;

namespace OSForAI.Tests.Infrastructure;

public sealed class SynthesisTests
{
    private sealed class Demo : ComponentResource
    {
        public Demo(string name, ConfigKey size) : base("osforai:test:Demo", name)
        {
            Bucket = new Resource("aws:s3/bucket:Bucket", "bucket", Expr.Object(("forceDestroy", true), ("tags", Expr.Object(("team", "ml")))), Child());
            Group = new Resource("aws:eks/nodeGroup:NodeGroup", "gpu", Expr.Object(
                ("clusterName", "c"),
                ("scalingConfig", Expr.Object(("minSize", 0), ("maxSize", size.Ref), ("desiredSize", 0))),
                ("labels", Expr.Object(("bucket", Bucket.Output("bucket")))),
                ("description", Expr.Concat("s3://", Bucket.Output("bucket"), "/data and a literal ${HOME}"))), Child(dependsOn: Bucket));
        }

        public Resource Bucket { get; }
        public Resource Group { get; }
    }

    [Fact]
    public void A_program_is_written_as_pulumi_yaml_with_typed_references()
    {
        var program = new PulumiProgram("demo");
        var size = program.AddConfig(new ConfigKey("gpuMaxNodes", "integer", 2));
        var demo = new Demo("ml", size);
        program.Add(demo);
        var token = program.AddVariable("token", new Invoke("aws:eks/getClusterAuth:getClusterAuth", Expr.Object(("name", "c")), "token"));
        program.AddOutput("bucketUri", Expr.Concat("s3://", demo.Bucket.Output("bucket")));
        program.AddOutput("token", Expr.Secret(token.Output()));
        var yaml = program.ToYaml();

        var doc = new YamlStream();
        doc.Load(new StringReader(yaml));
        var root = (YamlMappingNode)doc.Documents[0].RootNode;
        Assert.Equal("yaml", root["runtime"].ToString());
        var resources = (YamlMappingNode)root["resources"];
        Assert.Equal(["ml-bucket", "ml-gpu"], resources.Children.Keys.Select(k => k.ToString()));
        var gpu = (YamlMappingNode)resources["ml-gpu"];
        var props = (YamlMappingNode)gpu["properties"];
        Assert.Equal("${gpuMaxNodes}", ((YamlMappingNode)props["scalingConfig"])["maxSize"].ToString());
        Assert.Equal("s3://${ml-bucket.bucket}/data and a literal $${HOME}", props["description"].ToString());
        Assert.Equal("${ml-bucket}", ((YamlSequenceNode)((YamlMappingNode)gpu["options"])["dependsOn"])[0].ToString());
        Assert.Contains("fn::invoke", yaml);
        Assert.Contains("fn::secret: ${token}", yaml);
        Assert.Contains("default: 2", yaml);
    }

    [Fact]
    public void A_reference_to_a_resource_outside_the_program_is_an_error_not_a_dangling_string()
    {
        var program = new PulumiProgram("demo");
        var stray = new Resource("aws:s3/bucket:Bucket", "stray");
        program.Add(new Resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "block", Expr.Object(("bucket", stray.Output("id")))));
        var e = Assert.Throws<InvalidOperationException>(() => program.ToYaml());
        Assert.Contains("stray", e.Message);
        Assert.Throws<InvalidOperationException>(() => program.Add(new Resource("aws:s3/bucket:Bucket", "block")));
    }

    [Fact]
    public void Strings_that_a_yaml_reader_would_take_for_dates_or_numbers_are_quoted()
    {
        var program = new PulumiProgram("demo");
        program.Add(new Resource("aws:iam/role:Role", "role", Expr.Object(
            ("assumeRolePolicy", Expr.ToJson(Expr.Object(("Version", "2012-10-17")))),
            ("description", "0x1F"), ("name", "y"), ("path", "1_000"), ("maxSessionDuration", 3600))));
        var yaml = program.ToYaml();
        Assert.Contains("Version: \"2012-10-17\"", yaml);
        Assert.Contains("description: \"0x1F\"", yaml);
        Assert.Contains("name: \"y\"", yaml);
        Assert.Contains("path: \"1_000\"", yaml);
        Assert.Contains("maxSessionDuration: 3600", yaml);
    }
}
