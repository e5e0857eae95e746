using System.Text.Json;
using OSForAI.Onnx;
using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime.Catalog;

/// <summary>
/// Reads an uploaded model at upload time: refuses files that are not ONNX models, records the input and
/// output signature (what OIP metadata reports and what requests are checked against), checks the
/// manifest's batching settings against it, and reads the labels file.
/// </summary>
public static class ModelInspector
{
    public const int MaxLabels = 100_000;

    public static AlgorithmManifest Complete(AlgorithmManifest manifest, string codeDir)
    {
        var settings = manifest.Model ?? new ModelSpec();
        var path = Path.Combine(codeDir, manifest.Entrypoint);
        if (!File.Exists(path))
            throw new CatalogException(CatalogError.Invalid, $"the model file '{manifest.Entrypoint}' named by {AlgorithmManifest.FileName} is not in the upload");
        OnnxModelInfo info;
        try { info = OnnxModelFile.ReadFile(path); }
        catch (OnnxFormatException e) { throw new CatalogException(CatalogError.Invalid, $"'{manifest.Entrypoint}' is not a usable ONNX model: {e.Message}"); }
        var inputs = info.Inputs.Select(Spec).ToList();
        var outputs = info.Outputs.Select(Spec).ToList();
        if (settings.MaxBatchSize > 1)
        {
            var fixedFirst = inputs.Concat(outputs).FirstOrDefault(t => t.Shape.Length == 0 || t.Shape[0] != -1);
            if (fixedFirst is not null)
                throw new CatalogException(CatalogError.Invalid,
                    $"max_batch_size {settings.MaxBatchSize} needs a dynamic first dimension on every input and output, but '{fixedFirst.Name}' is {fixedFirst.ShapeText}");
        }
        var labels = manifest.LabelsFile is { } lf ? ReadLabels(codeDir, lf) : null;
        return manifest with { Model = settings with { Inputs = inputs, Outputs = outputs, Labels = labels, WeightBytes = info.WeightBytes } };
    }

    private static TensorSpec Spec(OnnxTensorInfo t) => !t.HasShape
        ? throw new CatalogException(CatalogError.Invalid, $"'{t.Name}' declares no shape; the inference protocol needs at least its rank")
        : new(t.Name, TensorTypes.FromOnnx(t.ElementType)
            ?? throw new CatalogException(CatalogError.Invalid, $"'{t.Name}' has ONNX element type {t.ElementType}, which the inference protocol cannot carry"),
            t.Shape);

    /// <summary>labels.txt (one per line) or a JSON array of strings.</summary>
    private static IReadOnlyList<string> ReadLabels(string codeDir, string file)
    {
        var path = Path.Combine(codeDir, file);
        if (!File.Exists(path)) throw new CatalogException(CatalogError.Invalid, $"the labels file '{file}' is not in the upload");
        var text = File.ReadAllText(path);
        List<string> labels;
        if (file.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            try { labels = JsonSerializer.Deserialize<List<string>>(text) ?? []; }
            catch (JsonException e) { throw new CatalogException(CatalogError.Invalid, $"the labels file '{file}' must be a JSON array of strings: {e.Message}"); }
        }
        else
        {
            labels = text.Replace("\r\n", "\n").Split('\n').ToList();
            if (labels.Count > 0 && labels[^1].Length == 0) labels.RemoveAt(labels.Count - 1);
        }
        if (labels.Count is 0 or > MaxLabels) throw new CatalogException(CatalogError.Invalid, $"the labels file '{file}' must hold between 1 and {MaxLabels} labels");
        return labels;
    }
}
