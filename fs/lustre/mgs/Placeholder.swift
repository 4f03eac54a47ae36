// Placeholder so the target builds; replaced by the component's first real file.
