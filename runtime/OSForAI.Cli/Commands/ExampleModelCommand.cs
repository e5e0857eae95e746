using OSForAI.Onnx;

namespace OSForAI.Cli.Commands;

/// <summary><c>osai example-model NAME DIR</c>: writes a small real ONNX model as DIR/model.onnx, to try model serving with.</summary>
internal static class ExampleModelCommand
{
    public const string FileName = "model.onnx";

    public static async Task<int> RunAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(2, 2, args.Positionals.Count == 0 ? $"NAME ({string.Join(", ", ExampleModels.Descriptions.Keys)}) and DIR" : "DIR, the folder to write model.onnx in");
        var (name, directory) = (args.Positionals[0], args.Positionals[1]);
        if (!ExampleModels.Descriptions.TryGetValue(name, out var description))
            throw new UsageException($"no example model '{name}' (known: {string.Join(", ", ExampleModels.Descriptions.Keys)})");

        var model = ExampleModels.Create(name);
        var info = OnnxModelFile.Read(model);   // the same reader the server checks uploads with
        var path = Path.Combine(directory, FileName);
        try
        {
            Directory.CreateDirectory(directory);
            await File.WriteAllBytesAsync(path, model);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot write {path}: {e.Message}", 2);
        }

        var inputs = string.Join(", ", info.Inputs.Select(t => $"{t.Name} {t.OipDatatype} {t.ShapeText}"));
        var outputs = string.Join(", ", info.Outputs.Select(t => $"{t.Name} {t.OipDatatype} {t.ShapeText}"));
        await host.Out.WriteLineAsync($"Wrote {path} ({model.Length} bytes): {inputs} -> {outputs}");
        await host.Error.WriteLineAsync($"{name}: {description}");
        return 0;
    }
}
