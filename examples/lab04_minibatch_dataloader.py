"""Lab 04-2: minibatch gradient descent with a Dataset and a DataLoader.

    python examples/lab04_minibatch_dataloader.py data-01-test-score.csv

The lecture writes its own ``Dataset`` class and wraps it in ``DataLoader(batch_size=2,
shuffle=True)``; here ``CsvDataset`` is the dataset and ``make_loader`` the DataLoader
(a real ``torch.utils.data.DataLoader`` that fetches each batch with one index_select).
"""

import sys

import torch
import torch.nn.functional as F

from tabloader.datasets import CsvDataset
from tabloader.loaders import make_loader

dataset = CsvDataset(sys.argv[1], header=False, target=-1, task="regression")
dataloader = make_loader(dataset, batch_size=2, shuffle=True, seed=0)

model = torch.nn.Linear(3, 1)
torch.nn.init.zeros_(model.weight)
torch.nn.init.zeros_(model.bias)
optimizer = torch.optim.SGD(model.parameters(), lr=1e-5)

nb_epochs = 20
for epoch in range(nb_epochs + 1):
    total = 0.0
    for x_train, y_train in dataloader:  # [2, 3] and [2, 1] (the last batch: 1 row)
        cost = F.mse_loss(model(x_train), y_train)
        optimizer.zero_grad()
        cost.backward()
        optimizer.step()
        total += cost.item() * len(x_train)
    print(f"Epoch {epoch:4d}/{nb_epochs} Cost: {total / len(dataset):.6f}")
