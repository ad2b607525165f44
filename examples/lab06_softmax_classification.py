"""Lab 06-2: softmax classification on the lecture's zoo file.

    python examples/lab06_softmax_classification.py data-04-zoo.csv

No header, 19 ``#`` comment lines, 16 features and the class (0..6) in the last column:
a multiclass target, int64 class indices [101], ready for ``cross_entropy``. The
lecture's loop: ``nn.Linear(16, 7)``, SGD with lr = 0.1, 1000 epochs, the cost every 100.
"""

import sys

import torch
import torch.nn.functional as F

from tabloader.datasets import CsvDataset

ds = CsvDataset(sys.argv[1], header=False, comment="#", target=-1, task="multiclass")
x_train, y_train = ds.features, ds.targets  # [101, 16], [101]

torch.manual_seed(1)
model = torch.nn.Linear(ds.n_features, ds.n_classes)  # 16 -> 7
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

nb_epochs = 1000
for epoch in range(nb_epochs + 1):
    cost = F.cross_entropy(model(x_train), y_train)
    optimizer.zero_grad()
    cost.backward()
    optimizer.step()
    if epoch % 100 == 0:
        print(f"Epoch {epoch:4d}/{nb_epochs} Cost: {cost.item():.6f}")

accuracy = (model(x_train).argmax(dim=1) == y_train).float().mean().item()
print(f"classes {ds.classes_.tolist()}, training accuracy {accuracy:.4f}")
